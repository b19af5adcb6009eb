"""Type stubs of the compiled module ``capme._capme``.

Hand-written; ``scripts/test.sh`` checks them against the built module with
``python -m mypy.stubtest capme`` (a class, method, argument or attribute missing on either
side fails the tests). The exceptions are in ``capme/_errors.py``.
"""

import datetime as _dt
import ipaddress
import os
from typing import Any, Dict, Iterable, Iterator, List, Literal, Optional, Tuple, Union, final, overload

__all__ = [
    "FlowKey",
    "Packet",
    "SearchIterator",
    "Segment",
    "SegmentIterator",
    "Store",
    "Summary",
    "__version__",
    "community_id",
]

__version__: str

_Path = Union[str, "os.PathLike[str]"]
_Time = Union[int, float, str, _dt.datetime]
_Port = Union[int, str, None]
_Proto = Union[str, int, None]
_Ip = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]
_Pad = Union[int, float, str, _dt.timedelta, None]
_Layer = Optional[Literal["any", "outer", "inner"]]
_Compress = Optional[Literal["zstd", "gzip", "lz4"]]

@final
class Packet:
    """One matched packet, owning its bytes."""

    @property
    def ts(self) -> float:
        """Epoch seconds (float)."""
    @property
    def ts_ns(self) -> int:
        """Epoch nanoseconds (exact)."""
    @property
    def datetime(self) -> _dt.datetime:
        """Timezone-aware UTC datetime (microseconds)."""
    @property
    def data(self) -> bytes:
        """The captured bytes, unchanged."""
    @property
    def caplen(self) -> int:
        """Bytes captured (``len(data)``)."""
    @property
    def orig_len(self) -> int:
        """Length on the wire."""
    @property
    def linktype(self) -> int:
        """LINKTYPE_* of the capture interface."""
    @property
    def sensor(self) -> str:
        """Sensor name of the capture file."""
    @property
    def file(self) -> str:
        """Path of the capture file."""

@final
class SearchIterator(Iterator[Packet]):
    """The packets of one search in timestamp order, read lazily in batches (GIL released)."""

    def __iter__(self) -> "SearchIterator": ...
    def __next__(self) -> Packet: ...
    def close(self) -> None:
        """Stops the search; later iteration ends at once."""
    @property
    def files_scanned(self) -> int:
        """Capture files read completely so far."""
    @property
    def bytes_read(self) -> int:
        """Bytes of capture files read so far."""
    @property
    def warning_messages(self) -> List[str]:
        """Non-fatal problems met so far."""

@final
class Segment:
    """One piece of one direction's stream in a ``json`` transcript."""

    @property
    def direction(self) -> Literal["src", "dst"]:
        """``"src"`` (the side that opened the connection) or ``"dst"``."""
    @property
    def ts(self) -> float:
        """Epoch seconds (float) of the packet that carried it."""
    @property
    def ts_ns(self) -> int:
        """Epoch nanoseconds (exact)."""
    @property
    def offset(self) -> int:
        """Offset of its first byte in its direction's stream."""
    @property
    def payload(self) -> bytes:
        """The bytes (raw stream bytes, never HTTP-decoded)."""

@final
class SegmentIterator(Iterator[Segment]):
    """The segments of a ``json`` transcript (built at the call, at most ``maxtx`` bytes)."""

    def __iter__(self) -> "SegmentIterator": ...
    def __next__(self) -> Segment: ...
    @property
    def truncated(self) -> bool:
        """True when the ``maxtx`` cap was reached."""
    @property
    def maxtx(self) -> int: ...
    @property
    def notes(self) -> List[str]: ...
    @property
    def warning_messages(self) -> List[str]: ...

@final
class Summary:
    """What an extraction did; the attributes are the CLI's ``--json`` fields."""

    @property
    def packets(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def first_ts(self) -> Optional[float]: ...
    @property
    def last_ts(self) -> Optional[float]: ...
    @property
    def first_ts_ns(self) -> Optional[int]: ...
    @property
    def last_ts_ns(self) -> Optional[int]: ...
    @property
    def output(self) -> Optional[str]: ...
    @property
    def community_id(self) -> Optional[str]: ...
    @property
    def files_scanned(self) -> int: ...
    @property
    def files_indexed(self) -> int: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def elapsed_ms(self) -> int: ...
    @property
    def cached(self) -> bool: ...
    @property
    def warnings(self) -> int: ...
    @property
    def warning_messages(self) -> List[str]: ...
    @property
    def truncated(self) -> bool:
        """True when the result stopped at ``max_packets`` or ``max_bytes``."""
    @property
    def encapsulated(self) -> Dict[str, Any]:
        """The tunnel packets written: ``{"packets": N, "by": {"vxlan": n, ...}}``."""
    def as_dict(self) -> Dict[str, Any]:
        """The object ``capme extract --json`` prints."""
    def __eq__(self, other: object, /) -> bool: ...

@final
class Store:
    """A capture store over one or more root directories."""

    def __new__(
        cls,
        roots: Union[_Path, Iterable[_Path]],
        index_dir: Optional[_Path] = None,
        *,
        threads: Optional[int] = None,
        max_packets: Union[int, str, None] = None,
        max_bytes: Union[int, str, None] = None,
        max_window: Union[int, str, _dt.timedelta, None] = None,
        sensors: Optional[List[str]] = None,
        no_catalogue: bool = False,
    ) -> "Store": ...
    @property
    def roots(self) -> List[str]: ...
    @property
    def index_dir(self) -> Optional[str]:
        """Where flow indexes are kept (None: each root's ``.capme/``)."""
    def search(
        self,
        sip: Optional[_Ip] = None,
        spt: _Port = None,
        dip: Optional[_Ip] = None,
        dpt: _Port = None,
        stime: Optional[_Time] = None,
        etime: Optional[_Time] = None,
        proto: _Proto = None,
        *,
        community_id: Optional[str] = None,
        url: Optional[str] = None,
        zeek_uid: Optional[str] = None,
        zeek_logs: Optional[_Path] = None,
        pad: _Pad = None,
        whole_flow: bool = False,
        layer: _Layer = None,
    ) -> SearchIterator:
        """Packets of a flow (5-tuple or ``community_id=``) in ``stime <= ts <= etime``."""
    def extract(
        self,
        sip: Optional[_Ip] = None,
        spt: _Port = None,
        dip: Optional[_Ip] = None,
        dpt: _Port = None,
        stime: Optional[_Time] = None,
        etime: Optional[_Time] = None,
        proto: _Proto = None,
        *,
        community_id: Optional[str] = None,
        url: Optional[str] = None,
        zeek_uid: Optional[str] = None,
        zeek_logs: Optional[_Path] = None,
        pad: _Pad = None,
        whole_flow: bool = False,
        layer: _Layer = None,
        decapsulate: bool = False,
        compress: _Compress = None,
        out: Optional[_Path] = None,
        archive: Optional[_Path] = None,
        force: bool = False,
    ) -> Summary:
        """Extract into ``out=`` (a pcap file) or ``archive=`` (a CapMe-like archive)."""

    @overload
    def transcript(
        self,
        sip: Optional[_Ip] = None,
        spt: _Port = None,
        dip: Optional[_Ip] = None,
        dpt: _Port = None,
        stime: Optional[_Time] = None,
        etime: Optional[_Time] = None,
        proto: _Proto = None,
        *,
        community_id: Optional[str] = None,
        url: Optional[str] = None,
        zeek_uid: Optional[str] = None,
        zeek_logs: Optional[_Path] = None,
        pad: _Pad = None,
        whole_flow: bool = False,
        layer: _Layer = None,
        style: Literal["plain", "capme"] = "plain",
        maxtx: int = 500000,
        out: Optional[_Path] = None,
        force: bool = False,
    ) -> str: ...
    @overload
    def transcript(
        self,
        sip: Optional[_Ip] = None,
        spt: _Port = None,
        dip: Optional[_Ip] = None,
        dpt: _Port = None,
        stime: Optional[_Time] = None,
        etime: Optional[_Time] = None,
        proto: _Proto = None,
        *,
        community_id: Optional[str] = None,
        url: Optional[str] = None,
        zeek_uid: Optional[str] = None,
        zeek_logs: Optional[_Path] = None,
        pad: _Pad = None,
        whole_flow: bool = False,
        layer: _Layer = None,
        style: Literal["json"],
        maxtx: int = 500000,
        out: Optional[_Path] = None,
        force: bool = False,
    ) -> SegmentIterator: ...
    @overload
    def transcript(
        self,
        sip: Optional[_Ip] = None,
        spt: _Port = None,
        dip: Optional[_Ip] = None,
        dpt: _Port = None,
        stime: Optional[_Time] = None,
        etime: Optional[_Time] = None,
        proto: _Proto = None,
        *,
        community_id: Optional[str] = None,
        url: Optional[str] = None,
        zeek_uid: Optional[str] = None,
        zeek_logs: Optional[_Path] = None,
        pad: _Pad = None,
        whole_flow: bool = False,
        layer: _Layer = None,
        style: str = "plain",
        maxtx: int = 500000,
        out: Optional[_Path] = None,
        force: bool = False,
    ) -> Union[str, SegmentIterator]:
        """The flow's transcript: ``str`` for ``plain``/``capme``, ``SegmentIterator`` for ``json``."""

@final
class FlowKey:
    """Canonical, bidirectional, hashable and ordered flow key."""

    def __new__(
        cls, sip: _Ip, spt: _Port, dip: _Ip, dpt: _Port, proto: Union[str, int]
    ) -> "FlowKey": ...
    @classmethod
    def from_tuple(cls, t: Tuple[_Ip, _Port, _Ip, _Port, Union[str, int]]) -> "FlowKey": ...
    @property
    def proto(self) -> str: ...
    @property
    def proto_number(self) -> int: ...
    @property
    def first(self) -> Tuple[str, int]: ...
    @property
    def second(self) -> Tuple[str, int]: ...
    def as_tuple(self) -> Tuple[str, int, str, int, str]: ...
    def community_id(self, seed: int = 0, base64: bool = True) -> str: ...
    def __hash__(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __lt__(self, other: "FlowKey", /) -> bool: ...
    def __le__(self, other: "FlowKey", /) -> bool: ...
    def __gt__(self, other: "FlowKey", /) -> bool: ...
    def __ge__(self, other: "FlowKey", /) -> bool: ...

def community_id(
    sip: _Ip,
    spt: _Port,
    dip: _Ip,
    dpt: _Port,
    proto: Union[str, int],
    seed: int = 0,
    base64: bool = True,
) -> str:
    """Community ID v1 of a flow, as ``capme community-id`` prints it."""
