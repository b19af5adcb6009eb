"""capme: pull the packets of one network connection out of rolling pcap/pcapng capture stores.

A thin Python layer over the Rust engine capme-core (the same engine as the ``capme`` CLI)::

    import capme

    store = capme.Store("/nsm/sensor_data")
    for p in store.search("10.10.5.10", 52001, "10.10.5.20", 22, 1718407577, 1718407578, proto="tcp"):
        print(p.datetime, len(p.data), p.sensor)

    summary = store.extract("10.10.5.10", 52001, "10.10.5.20", 22, 1718407577, 1718407578,
                            proto="tcp", archive="/nsm/capme-archive")
    print(summary.output, summary.packets, summary.as_dict())

    print(store.transcript(url="https://so/capme/index.php?sip=...&stime=...&etime=...",
                           style="capme", maxtx=100000))
    for seg in store.transcript(zeek_uid="CHhAvVGS1DHFjwGM9", zeek_logs="/nsm/zeek/logs",
                                whole_flow=True, style="json"):
        print(seg.direction, seg.ts, seg.offset, seg.payload[:40])

Times are an int or float epoch, a numeric or RFC 3339 string, or a ``datetime`` (naive values
are UTC). Errors are ``CapmeError`` subclasses whose message is the CLI's message:
``InvalidQuery`` (also ``ValueError``), ``StoreError`` (also ``OSError``), ``NoPackets`` and
``Cancelled``; they are defined in ``capme._errors``. Long work releases the GIL and can be
interrupted with Ctrl-C (``KeyboardInterrupt``).

The classes and functions are those of the compiled module ``capme._capme`` (typed in
``_capme.pyi``), re-exported here.
"""

# The exceptions first: the compiled module imports its exception classes from capme._errors.
from ._errors import Cancelled, CapmeError, InvalidQuery, NoPackets, StoreError
from ._capme import (
    FlowKey,
    Packet,
    SearchIterator,
    Segment,
    SegmentIterator,
    Store,
    Summary,
    __version__,
    community_id,
)

__all__ = [
    "Cancelled",
    "CapmeError",
    "FlowKey",
    "InvalidQuery",
    "NoPackets",
    "Packet",
    "SearchIterator",
    "Segment",
    "SegmentIterator",
    "Store",
    "StoreError",
    "Summary",
    "__version__",
    "community_id",
]
