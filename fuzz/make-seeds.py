#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora under fuzz/corpus/ (deterministic; committed).

Sources: the first records of a few files of the sample store (examples/data/store, read
only), the Community ID test captures (capme-core/tests/data/community-id/pcaps), their
big-endian / nanosecond / pcapng conversions made here, hand-made pcapng files with the
features the reader knows (two sections of both byte orders, if_tsresol, if_tsoffset, PB, SPB,
unknown blocks), the packets of those captures for the decoder, indexes that `capme index`
builds over a small store in a temporary directory, tunnel packets of the generator's tunnel
store (gen-tunnels), and query strings. Files named `found-*` (inputs that fuzzing runs
found, minimised) are left alone, and so are the decoder's `link-*` seeds of the other link
types, which `cargo test -p capme-fuzz-targets --test link_seeds -- --ignored` writes.

Usage: python3 fuzz/make-seeds.py [path/to/capme]   (default: target/debug/capme; the
capme-gen binary gen-tunnels is taken from the same directory)
"""
import glob, gzip, os, shutil, struct, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
CAPME = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "capme")


def records(data):
    """(header fields, packet bytes) of a little-endian µs/ns legacy pcap."""
    magic, = struct.unpack("<I", data[:4])
    assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
    _, _, _, _, snaplen, linktype = struct.unpack("<HHiIII", data[4:24])
    out, at = [], 24
    while at + 16 <= len(data):
        sec, frac, cap, orig = struct.unpack("<IIII", data[at:at + 16])
        if at + 16 + cap > len(data):
            break
        out.append((sec, frac, orig, data[at + 16:at + 16 + cap]))
        at += 16 + cap
    return magic == 0xA1B23C4D, snaplen, linktype, out


def pcap(recs, linktype, snaplen=65535, nanos=False, be=False):
    e = ">" if be else "<"
    b = struct.pack(e + "IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for sec, frac, orig, pkt in recs:
        if nanos:
            frac *= 1000
        b += struct.pack(e + "IIII", sec, frac, len(pkt), orig) + pkt
    return b


def block(e, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def opt(e, code, val):
    return struct.pack(e + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)


def shb(e):
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(e, linktype, tsresol=None, tsoffset=None, snaplen=65535):
    opts = b""
    if tsresol is not None:
        opts += opt(e, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += opt(e, 14, struct.pack(e + "q", tsoffset))
    if opts:
        opts += opt(e, 0, b"")
    return block(e, 1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts)


def epb(e, iface, ts, pkt, orig, comment=None):
    opts = opt(e, 1, comment) + opt(e, 0, b"") if comment else b""
    body = struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(pkt), orig)
    return block(e, 6, body + pkt + b"\0" * (-len(pkt) % 4) + opts)


def pb(e, iface, ts, pkt, orig):
    body = struct.pack(e + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(pkt), orig)
    return block(e, 2, body + pkt)


def spb(e, pkt):
    return block(e, 3, struct.pack(e + "I", len(pkt)) + pkt)


def pcapng(recs, linktype, be=False):
    e = ">" if be else "<"
    b = shb(e) + idb(e, linktype)
    for sec, frac, orig, pkt in recs:
        b += epb(e, 0, sec * 1_000_000 + frac, pkt, orig)
    return b


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    # Only this script's own files are rewritten: the inputs named `found-*`, kept from
    # fuzzing runs (see scripts/fuzz.sh, FUZZ_MERGE), stay.
    for t in ("pcap_reader", "pcapng_reader", "decoder", "index", "query"):
        for p in glob.glob(os.path.join(CORPUS, t, "*")):
            if not os.path.basename(p).startswith(("found-", "link-")):
                os.remove(p)

    store = sorted(glob.glob(os.path.join(ROOT, "examples/data/store/*/dailylogs/*/snort.log.*")))
    cid = sorted(glob.glob(os.path.join(ROOT, "capme-core/tests/data/community-id/pcaps/*.pcap")))
    captures = {}
    for p in store[:3] + store[-1:]:
        captures["store-" + os.path.basename(p)] = open(p, "rb").read()
    for p in cid:
        captures["cid-" + os.path.basename(p)[:-5]] = open(p, "rb").read()
    captures["cid-combined"] = gzip.open(cid[0].rsplit("/", 1)[0] + "/combined.pcap.gz").read()

    decoder_n = 0
    for name, data in sorted(captures.items()):
        nanos, snaplen, lt, recs = records(data)
        cut = recs[:24] if name.startswith("store") else recs[:40]
        base = pcap(cut, lt, snaplen, nanos)
        write("pcap_reader", name + ".pcap", base)
        if name in ("store-" + os.path.basename(store[0]), "cid-tcp", "cid-ipv6"):
            write("pcap_reader", name + "-be.pcap", pcap(cut[:8], lt, snaplen, nanos, be=True))
            write("pcap_reader", name + "-ns.pcap", pcap(cut[:8], lt, snaplen, nanos=True))
            write("pcap_reader", name + "-cut.pcap", base[: len(base) - 7])
            write("pcapng_reader", name + ".pcapng", pcapng(cut[:12], lt))
            write("pcapng_reader", name + "-be.pcapng", pcapng(cut[:6], lt, be=True))
        # The decoder: the link type's position in LINKTYPES (fuzz-targets/src/lib.rs), then
        # the packet; Ethernet packets also as raw IP, SLL, SLL2 and NULL.
        for i, (_, _, _, pkt) in enumerate(cut[:6] if name.startswith("store") else cut[:12]):
            assert lt == 1
            write("decoder", f"{name}-{i}.eth", b"\x01" + pkt)
            decoder_n += 1
            if i < 3 and len(pkt) > 14:
                et, ip = pkt[12:14], pkt[14:]
                write("decoder", f"{name}-{i}.raw", b"\x04" + ip)
                write("decoder", f"{name}-{i}.sll", b"\x06" + b"\0\0\0\1\0\6" + pkt[6:12] + b"\0\0" + et + ip)
                write("decoder", f"{name}-{i}.sll2",
                      b"\x09" + et + b"\0\0" + b"\0\0\0\1" + b"\0\1\0\6" + pkt[6:12] + b"\0\0" + ip)
                fam = 2 if et == b"\x08\x00" else 10
                write("decoder", f"{name}-{i}.null", b"\x00" + struct.pack("<I", fam) + ip)

    # Tunnel packets (GRE, ERSPAN, VXLAN, GENEVE, IP in IP, PPPoE in VXLAN, nested) from the
    # generator's tunnel store: the first tunnelled packet of each case (a case's plain copies
    # come first, then 8 tunnelled packets).
    gen_tunnels = os.path.join(os.path.dirname(CAPME), "gen-tunnels")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([gen_tunnels, tmp], check=True, stdout=subprocess.DEVNULL)
        pkts = []
        for p in sorted(glob.glob(os.path.join(tmp, "*/dailylogs/*/snort.log.*"))):
            pkts += [r[3] for r in records(open(p, "rb").read())[3]]
        tunnels = [pk for pk in pkts if pk[23:24] in (b"\x2f", b"\x04", b"\x29", b"\x11")
                   or pk[20:21] in (b"\x2f", b"\x04", b"\x29", b"\x11")]
        for i, pk in enumerate(tunnels[::8][:40]):
            write("decoder", f"tunnel-{i}.eth", b"\x01" + pk)

    # Hand-made pcapng: what the reader knows beyond one little-endian section.
    _, _, lt, recs = records(captures["cid-tcp"])
    p1, p2, p3 = (r[3] for r in recs[:3])
    le, be = "<", ">"
    write("pcapng_reader", "two-sections-both-orders.pcapng",
          shb(le) + idb(le, 1) + epb(le, 0, 1_700_000_000_000_000, p1, len(p1))
          + shb(be) + idb(be, 1, tsresol=9) + idb(be, 101)
          + epb(be, 1, 1_700_000_000_000_000_000, p2[14:], len(p2) - 14)
          + epb(be, 0, 1_700_000_000_500_000_000, p2, len(p2)))
    write("pcapng_reader", "tsresol-tsoffset.pcapng",
          shb(le) + idb(le, 1, tsresol=0x80 | 20, tsoffset=1_700_000_000)
          + idb(le, 1, tsresol=3) + epb(le, 0, 5 << 20, p1, len(p1))
          + epb(le, 1, 42, p3, len(p3), comment=b"a comment"))
    write("pcapng_reader", "pb-spb-unknown.pcapng",
          shb(le) + idb(le, 1) + pb(le, 0, 1_700_000_000_000_000, p1, len(p1)) + spb(le, p2)
          + block(le, 0x0BAD, b"unknown block body") + block(le, 5, b"\0" * 8)
          + epb(le, 0, 1_700_000_001_000_000, p3, 1500))
    write("pcapng_reader", "snaplen-cut.pcapng",
          shb(le) + idb(le, 1, snaplen=64) + epb(le, 0, 1, p1[:64], len(p1)))

    # Indexes as `capme index` writes them, over a small store in a temporary directory.
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "sensor1", "dailylogs", "2024-06-14")
        os.makedirs(d)
        for k, name in enumerate(sorted(n for n in os.listdir(os.path.join(CORPUS, "pcap_reader"))
                                        if n.startswith("store") and "-" not in n[6:])[:2]):
            shutil.copy(os.path.join(CORPUS, "pcap_reader", name), os.path.join(d, f"snort.log.{1718406137 + 900 * k}"))
        shutil.copy(os.path.join(CORPUS, "pcapng_reader", "two-sections-both-orders.pcapng"),
                    os.path.join(d, "snort.log.1718409000"))
        shutil.copy(os.path.join(CORPUS, "pcap_reader", "cid-ipv6.pcap"), os.path.join(d, "snort.log.1718409900"))
        # An index records its capture's mtime: fix them, so that the seeds are the same bytes
        # on every run.
        for k, name in enumerate(sorted(os.listdir(d))):
            os.utime(os.path.join(d, name), (1718406137 + k, 1718406137 + k))
        subprocess.run([CAPME, "index", "--store", tmp], check=True, stdout=subprocess.DEVNULL)
        idx = sorted(p for p in glob.glob(os.path.join(tmp, ".capme", "**", "*"), recursive=True) if os.path.isfile(p))
        assert idx, "capme index wrote no index"
        for p in idx:
            write("index", os.path.basename(p), open(p, "rb").read())
        write("index", "header-only", open(idx[0], "rb").read()[:64])

    # Query strings: sip, spt, dip, dpt, proto, community_id, stime, etime, seed (~ = absent).
    queries = [
        "10.10.5.10\n52001\n10.10.5.20\n22\ntcp\n~\n1718407577\n1718407578",
        "[2001:db8::1]\n443\n2001:db8::2\n51000\n~\n~\n2024-06-14T23:55:00Z\n2024-06-15T00:05:00.5+01:00",
        "10.0.0.1\n8\n10.0.0.2\n0\nicmp\n~\n1700000000.25\n1700000000.999999999\n7",
        "fe80::1\n128\nfe80::2\n0\nicmp6\n~\n0\n1",
        "10.0.0.1\n~\n10.0.0.2\n~\n47\n~\n1700000000\n1700000100",
        "~\n~\n~\n~\n~\n1:LQU9qZlK+B5F3KDmev6m5PMibrg=\n1700000000\n1700000100",
        "~\n~\n~\n~\n~\n1:2d053da9994af81e45dca0e67afea6e4f3226eb8\n1700000000\n1700000100",
        "10.0.0.1 \n+22\n10.0.0.2\n-1\n TCP\n~\n-1\n99999999999999999999",
        "128.232.110.120\n34855\n66.35.250.204\n80\n6\n~\n1700000100\n1700000000\n65535",
        "::ffff:10.0.0.1\n65535\n::1\n65536\nsctp\n2:abc\n1970-01-01T00:00:00Z\n9999-12-31T23:59:59.999999999Z",
    ]
    for i, q in enumerate(queries):
        write("query", f"q{i}", q.encode())

    compressed_seeds()


def compressed_seeds():
    """Compressed captures for the `compressed` target: gzip (Python's own), zstd and lz4
    (their command-line tools, which must be installed: apt-get install zstd lz4), each as
    one frame and as frames of 2 KB concatenated, and cut short and with a corrupt byte."""
    for p in glob.glob(os.path.join(CORPUS, "compressed", "*")):
        if not os.path.basename(p).startswith("found-"):
            os.remove(p)
    src = {
        "store": open(os.path.join(CORPUS, "pcap_reader",
                                   sorted(n for n in os.listdir(os.path.join(CORPUS, "pcap_reader"))
                                          if n.startswith("store") and "-" not in n[6:])[0]), "rb").read(),
        "pcapng": open(os.path.join(CORPUS, "pcapng_reader", "two-sections-both-orders.pcapng"), "rb").read(),
    }

    def squeeze(fmt, data):
        if fmt == "gz":
            return gzip.compress(data, 6, mtime=0)
        tool = {"zst": ["zstd", "-q", "-c", "--no-check"], "lz4": ["lz4", "-q", "-c"]}[fmt]
        return subprocess.run(tool, input=data, capture_output=True, check=True).stdout

    for name, data in sorted(src.items()):
        for fmt in ("gz", "zst", "lz4"):
            one = squeeze(fmt, data)
            frames = b"".join(squeeze(fmt, data[i:i + 2048]) for i in range(0, len(data), 2048))
            write("compressed", f"{name}.{fmt}", one)
            write("compressed", f"{name}-frames.{fmt}", frames)
            write("compressed", f"{name}-cut.{fmt}", frames[: len(frames) * 2 // 3])
            bad = bytearray(frames)
            bad[len(bad) // 2] ^= 0x5A
            write("compressed", f"{name}-flipped.{fmt}", bytes(bad))


if __name__ == "__main__":
    main()
