"""Limits: Store(max_packets=, max_bytes=, max_window=) and Summary.truncated, as the CLI's
--max-packets, --max-bytes, --max-window and its "truncated" JSON key."""

import datetime as dt
import json

import pytest

import capme
from conftest import run_cli

QINQ = ("10.10.5.10", 52001, "10.10.5.20", 22)
QINQ_WIN = (1718407577, 1718407578)
CLI_QINQ = ["--sip", QINQ[0], "--spt", str(QINQ[1]), "--dip", QINQ[2], "--dpt", str(QINQ[3]),
            "--proto", "tcp"]


def test_max_packets_truncates_as_the_cli(sample_store, cli, tmp_path):
    full = capme.Store(sample_store).extract(*QINQ, *QINQ_WIN, out=tmp_path / "all.pcap")
    assert full.packets == 15 and full.truncated is False
    s = capme.Store(sample_store, max_packets=5).extract(*QINQ, *QINQ_WIN, "tcp",
                                                         out=tmp_path / "py.pcap")
    assert s.packets == 5 and s.truncated is True
    assert any("truncated at max_packets = 5" in w for w in s.warning_messages)
    r = run_cli(cli, "extract", "--store", sample_store, *CLI_QINQ, "--stime", str(QINQ_WIN[0]),
                "--etime", str(QINQ_WIN[1]), "--max-packets", "5", "-o",
                str(tmp_path / "cli.pcap"), "--json")
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    got = s.as_dict()
    assert list(got) == list(want)
    # truncated, then the tunnel counts added after it (the CLI's key order).
    assert list(got)[-2:] == ["truncated", "encapsulated"]
    for k in ("packets", "bytes", "truncated", "warning_messages", "first_ts_ns", "last_ts_ns",
              "encapsulated"):
        assert got[k] == want[k], k
    assert (tmp_path / "py.pcap").read_bytes() == (tmp_path / "cli.pcap").read_bytes()


def test_max_bytes_truncates(sample_store, tmp_path):
    full = capme.Store(sample_store).extract(*QINQ, *QINQ_WIN, out=tmp_path / "all.pcap")
    s = capme.Store(sample_store, max_bytes=str(full.bytes - 1)).extract(
        *QINQ, *QINQ_WIN, out=tmp_path / "capped.pcap")
    assert s.truncated is True and s.packets < 15 and s.bytes < full.bytes
    assert capme.Store(sample_store, max_bytes=full.bytes).extract(
        *QINQ, *QINQ_WIN, out=tmp_path / "at.pcap").truncated is False


def test_max_window_refuses_longer_windows(sample_store, tmp_path):
    long = (QINQ_WIN[0] - 86_400, QINQ_WIN[1] + 86_400)
    with pytest.raises(capme.InvalidQuery) as e:
        capme.Store(sample_store).search(*QINQ, *long)
    assert "--max-window" in str(e.value) and str(e.value).startswith("invalid window")
    with pytest.raises(capme.InvalidQuery):
        capme.Store(sample_store).extract(*QINQ, *long, out=tmp_path / "x.pcap")
    assert not (tmp_path / "x.pcap").exists()
    for raised in (3 * 86_400, "3d", "72h", "4320m", dt.timedelta(days=3)):
        store = capme.Store(sample_store, max_window=raised)
        assert len(list(store.search(*QINQ, *long))) == 15, raised


@pytest.mark.parametrize("kwargs, field", [
    ({"max_packets": 0}, "max_packets"),
    ({"max_packets": -1}, "max_packets"),
    ({"max_packets": "5 "}, "max_packets"),
    ({"max_bytes": 0}, "max_bytes"),
    ({"max_window": 0}, "max_window"),
    ({"max_window": "24 h"}, "max_window"),
    ({"max_window": "1.5h"}, "max_window"),
    ({"max_window": dt.timedelta(seconds=1.5)}, "max_window"),
])
def test_bad_limits_name_the_field(sample_store, kwargs, field):
    with pytest.raises(capme.InvalidQuery) as e:
        capme.Store(sample_store, **kwargs)
    assert str(e.value).startswith(f"invalid {field} "), str(e.value)


def test_limit_types(sample_store):
    with pytest.raises(TypeError):
        capme.Store(sample_store, max_packets=1.5)
    with pytest.raises(TypeError):
        capme.Store(sample_store, max_packets=True)
    with pytest.raises(TypeError):
        capme.Store(sample_store, max_window=[1])
