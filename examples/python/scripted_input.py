#!/usr/bin/env python3
"""A Splunk scripted input in miniature: the packets (or the pcap) of one flow, as JSON lines.

Copy it and change what you need. Splunk runs a scripted input on a schedule and indexes
what it prints on stdout; this one prints one JSON event per packet of a flow, or, with
``--out``/``--archive``, one summary event for the pcap it wrote. It needs only the
``capme`` package (``pip install capme-*.whl``; see capme-py/README.md).

    scripted_input.py --store /nsm/sensor_data \\
        sip=10.10.5.10 spt=52001 dip=10.10.5.20 dpt=22 proto=tcp \\
        stime=1718407577 etime=1718407578
    CAPME_STORE=/nsm/sensor_data \\
    CAPME_FLOW="community_id=1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk= stime=1718407577 etime=1718407578" \\
        scripted_input.py --archive /nsm/capme-archive

The flow is ``key=value`` words (from the arguments, else ``$CAPME_FLOW``): ``sip``,
``spt``, ``dip``, ``dpt``, ``proto`` or ``community_id``, and ``stime``, ``etime`` (epoch
seconds or RFC 3339, as on the ``capme`` command line). Splunk's field names ``src``,
``src_port``, ``dest``, ``dest_port``, ``startTime``, ``endTime`` are accepted too. The
values are passed to capme as text, so they are checked, and worded when wrong, exactly as
by the ``capme`` CLI.

On an error one event ``{"capme_error": MESSAGE, "kind": KIND, ...the flow}`` is printed
(MESSAGE is the CLI's message) and the exit status is the CLI's: 1 no packet matched, 2 an
invalid flow or time, 3 a store error. Printing packets, a flow without packets prints
nothing and exits with 1.
"""

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

import capme

# Splunk's field names (and a few spellings) for capme's argument names.
ALIASES = {
    "src": "sip",
    "src_ip": "sip",
    "src_port": "spt",
    "dest": "dip",
    "dest_ip": "dip",
    "dest_port": "dpt",
    "startTime": "stime",
    "endTime": "etime",
    "community-id": "community_id",
}
KEYS = ("sip", "spt", "dip", "dpt", "proto", "community_id", "stime", "etime")
EXIT_CODES = {"nopackets": 1, "invalid": 2, "io": 3, "format": 3, "store": 3}


def parse_flow(words: Sequence[str]) -> Dict[str, str]:
    """``["sip=10.0.0.1", "spt=80", ...]`` -> ``{"sip": "10.0.0.1", "spt": "80", ...}``."""
    flow: Dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key = ALIASES.get(key, key)
        if not sep or key not in KEYS:
            raise SystemExit(f"scripted_input.py: expected KEY=VALUE with KEY one of "
                             f"{', '.join(KEYS)}, not {word!r}")
        flow[key] = value
    return flow


def emit(event: Dict[str, object]) -> None:
    """One event: one JSON object on one line (Splunk: ``KV_MODE = json``)."""
    print(json.dumps(event, sort_keys=False), flush=True)


def packet_events(store: capme.Store, flow: Dict[str, str]) -> int:
    """One event per packet of the flow; returns how many."""
    it = store.search(flow.get("sip"), flow.get("spt"), flow.get("dip"), flow.get("dpt"),
                      flow.get("stime"), flow.get("etime"), flow.get("proto"),
                      community_id=flow.get("community_id"))
    n = 0
    for p in it:
        emit({
            "_time": p.ts,
            "ts_ns": p.ts_ns,
            "caplen": p.caplen,
            "orig_len": p.orig_len,
            "linktype": p.linktype,
            "sensor": p.sensor,
            "file": p.file,
            "data": p.data.hex(),
        })
        n += 1
    return n


def summary_event(store: capme.Store, flow: Dict[str, str], out: Optional[str],
                  archive: Optional[str]) -> None:
    """Extracts the flow into a pcap file or the archive and prints its summary."""
    s = store.extract(flow.get("sip"), flow.get("spt"), flow.get("dip"), flow.get("dpt"),
                      flow.get("stime"), flow.get("etime"), flow.get("proto"),
                      community_id=flow.get("community_id"), out=out, archive=archive)
    event: Dict[str, object] = dict(s.as_dict())  # the fields of `capme extract --json`
    event["_time"] = s.first_ts
    emit(event)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="The packets (or the pcap) of one flow, as JSON "
                                             "lines (a Splunk scripted input).")
    ap.add_argument("--store", action="append",
                    help="capture store root (repeatable; default: $CAPME_STORE, "
                         "comma-separated)")
    target = ap.add_mutually_exclusive_group()
    target.add_argument("--out", help="write the flow's packets to this pcap file and print "
                                      "one summary event")
    target.add_argument("--archive", default=os.environ.get("CAPME_ARCHIVE") or None,
                        help="extract into this CapMe-like archive directory and print one "
                             "summary event (default: $CAPME_ARCHIVE)")
    ap.add_argument("flow", nargs="*", help="KEY=VALUE words (default: $CAPME_FLOW)")
    args = ap.parse_args(argv)

    roots = args.store or [r for r in os.environ.get("CAPME_STORE", "").split(",") if r]
    if not roots:
        ap.error("no store: give --store DIR or set CAPME_STORE")
    flow = parse_flow(args.flow or os.environ.get("CAPME_FLOW", "").split())
    try:
        store = capme.Store(roots)
        if args.out or args.archive:
            summary_event(store, flow, args.out, args.archive)
        elif packet_events(store, flow) == 0:
            print("scripted_input.py: no packet matched", file=sys.stderr)
            return 1
    except capme.CapmeError as e:
        emit({"capme_error": str(e), "kind": e.kind, **flow})
        return EXIT_CODES.get(e.kind, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
