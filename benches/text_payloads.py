#!/usr/bin/env python3
"""Copies a generated store with every packet's bytes after the first 96 replaced by
English-like text, so that it compresses as plain-text protocols do (the generator's payloads
are random, as encrypted traffic is). Record headers, lengths, timestamps and the packets'
first 96 bytes (link, VLAN/MPLS, IP and transport headers of the usual packets) are kept.

    python3 benches/text_payloads.py SRC_STORE DST_STORE

For `benches/macro.py --dir DIR --only-compressed`: make DIR/store with this first (the
benchmark then measures it instead of generating one).
"""
import os, struct, sys

TEXT = (b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\n"
        b"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n\r\n"
        b"<html><head><title>Example Domain</title></head><body><h1>Example Domain</h1>"
        b"<p>This domain is for use in illustrative examples in documents.</p></body></html>\n")
KEEP = 96


def rewrite(src, dst):
    data = bytearray(open(src, "rb").read())
    magic, = struct.unpack("<I", data[:4])
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), f"{src}: not a little-endian legacy pcap"
    filler = TEXT * (262144 // len(TEXT) + 2)
    at, k = 24, 0
    while at + 16 <= len(data):
        cap, = struct.unpack_from("<I", data, at + 8)
        start, end = at + 16 + KEEP, at + 16 + cap
        if end > len(data):
            break
        if end > start:
            off = (k * 37) % len(TEXT)
            data[start:end] = filler[off:off + end - start]
        at, k = end, k + 1
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    open(dst, "wb").write(data)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    for d, _, fs in os.walk(src):
        if "/." in d[len(src):]:
            continue
        for f in fs:
            p = os.path.join(d, f)
            rewrite(p, os.path.join(dst, os.path.relpath(p, src)))


if __name__ == "__main__":
    main()
