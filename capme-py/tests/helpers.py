"""Helpers for the tests (not fixtures)."""

import math


def window_of(flow):
    """The whole-second window covering a manifest flow: floor(first)..floor(last)."""
    return (
        math.floor(flow["first_ts_ns"] / 1e9),
        flow["last_ts_ns"] // 1_000_000_000,
    )


def tuple_args(flow):
    return (flow["src_ip"], flow["src_port"], flow["dst_ip"], flow["dst_port"])


def expected(flows, flow):
    """Packets (sorted ts_ns) and captured bytes of every manifest flow with flow's 5-tuple and
    window (the same tuple can be recorded on two sensors)."""
    lo, hi = window_of(flow)
    ts, size = [], 0
    for f in flows:
        if (f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"], f["proto"]) != (
            flow["src_ip"], flow["src_port"], flow["dst_ip"], flow["dst_port"], flow["proto"]
        ):
            continue
        for p in f["packets"]:
            if lo * 10**9 <= p["ts_ns"] <= hi * 10**9 + 999_999_999:
                ts.append(p["ts_ns"])
                size += p["len"]
    return sorted(ts), size
