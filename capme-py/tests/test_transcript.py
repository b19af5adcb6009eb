"""Store.transcript in each style against the CLI's `capme transcript`, and the query forms of
issue 13 on every method: url=, zeek_uid=/zeek_logs= (a TSV conn.log written here), pad= and
whole_flow=. The flows are those of examples/data/manifest.json (and of tests/pivot.rs)."""

import base64
import datetime as dt
import json
import warnings

import pytest

import capme
from conftest import run_cli

# The HTTP flow (13 packets, 1718406497.123456 to .201617): 300 bytes from src, 4000 from dst.
HTTP = dict(sip="10.10.1.10", spt=51000, dip="10.10.1.20", dpt=80, proto="tcp")
HTTP_WIN = dict(stime=1718406497, etime=1718406497)
HTTP_CLI = ["--sip", "10.10.1.10", "--spt", "51000", "--dip", "10.10.1.20", "--dpt", "80",
            "--proto", "tcp", "--stime", "1718406497", "--etime", "1718406497"]
# The QinQ SSH flow (15 packets, 1718407577.678912 to 1718407578.222645).
QINQ = dict(sip="10.10.5.10", spt=52001, dip="10.10.5.20", dpt=22, proto="tcp")
QINQ_WIN = dict(stime=1718407577, etime=1718407578)
# The midnight flow: 54 packets over 45 s, keepalives crossing a rotation and midnight.
MIDNIGHT = dict(sip="10.10.10.10", spt=45000, dip="10.10.10.20", dpt=5222)
MIDNIGHT_ALL = dict(stime=1718409570, etime=1718409630)
MIDNIGHT_CUT = dict(stime=1718409579, etime=1718409580)
CAPME_URL = "https://so.example/capme/index.php"

# A Zeek TSV conn.log as Zeek writes it (header lines, tab-separated, #close at the end).
ZEEK_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#open\t2024-06-14-23-00-00\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory"
    "\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring"
    "\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)
ZEEK_CLOSE = "#close\t2024-06-15-00-00-00\n"


def _row(ts, uid, oh, op, rh, rp, proto, dur):
    return (f"{ts}\t{uid}\t{oh}\t{op}\t{rh}\t{rp}\t{proto}\t-\t{dur}\t0\t0\tSF\tT\tT\t0"
            f"\tShADadFf\t8\t600\t7\t3000\t(empty)\n")


@pytest.fixture
def zeek_logs(tmp_path):
    """A Security Onion style log directory with one TSV conn log: the QinQ flow, the HTTP
    flow, and the midnight flow with its duration unset and its ts rounded down."""
    d = tmp_path / "zeek" / "logs" / "2024-06-14"
    d.mkdir(parents=True)
    (d / "conn.23:00:00-00:00:00.log").write_text(
        ZEEK_HEADER
        + _row("1718406497.123456", "ChttpTSV1", "10.10.1.10", 51000, "10.10.1.20", 80, "tcp",
               "0.078161")
        + _row("1718407577.678912", "CqinqTSV1", "10.10.5.10", 52001, "10.10.5.20", 22, "tcp",
               "0.543733")
        + _row("1718409580.000000", "Cmidnight1", "10.10.10.10", 45000, "10.10.10.20", 5222,
               "tcp", "-")
        + ZEEK_CLOSE
    )
    return tmp_path / "zeek" / "logs"


def _ts(it):
    return [p.ts_ns for p in it]


def _cli_transcript(cli, sample_store, *args):
    r = run_cli(cli, "transcript", "--store", sample_store, *args)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("style", ["plain", "capme"])
def test_text_styles_equal_the_cli(sample_store, cli, style):
    text = capme.Store(sample_store).transcript(**HTTP, **HTTP_WIN, style=style)
    assert isinstance(text, str)
    assert text == _cli_transcript(cli, sample_store, *HTTP_CLI, "--style", style).stdout
    assert "GET /capme/tcp-v4 HTTP/1.1" in text
    if style == "capme":
        assert text.startswith("HDR: Sensor Name:\tsensor1-eth1\n")
        assert "\nSRC: GET /capme/tcp-v4 HTTP/1.1\n" in text


def test_default_style_is_plain(sample_store):
    store = capme.Store(sample_store)
    assert store.transcript(**HTTP, **HTTP_WIN) == store.transcript(**HTTP, **HTTP_WIN,
                                                                    style="plain")


def test_json_segments_equal_the_cli(sample_store, cli):
    it = capme.Store(sample_store).transcript(**HTTP, **HTTP_WIN, style="json")
    assert isinstance(it, capme.SegmentIterator)
    assert iter(it) is it
    assert it.truncated is False and it.maxtx == 500000 and it.warning_messages == []
    segs = list(it)
    lines = _cli_transcript(cli, sample_store, *HTTP_CLI, "--style", "json").stdout.splitlines()
    want = [json.loads(line) for line in lines]
    assert len(segs) == len(want) == 4
    for s, w in zip(segs, want):
        assert isinstance(s, capme.Segment)
        assert s.direction == w["direction"]
        assert s.offset == w["offset"]
        assert s.payload == base64.b64decode(w["payload"])
        assert s.ts == w["ts"]
        assert s.ts_ns // 1000 == round(w["ts"] * 1e6)
        assert isinstance(s.ts_ns, int) and isinstance(s.payload, bytes)
    assert [s.direction for s in segs] == ["src", "dst", "dst", "dst"]
    assert sum(len(s.payload) for s in segs if s.direction == "src") == 300
    assert sum(len(s.payload) for s in segs if s.direction == "dst") == 4000
    assert segs[0].payload.startswith(b"GET /capme/tcp-v4 HTTP/1.1\r\n")
    assert "direction=\"src\"" in repr(segs[0])
    assert list(it) == []  # consumed
    with pytest.raises(AttributeError):
        segs[0].offset = 1  # type: ignore[misc]


def test_maxtx_caps_with_the_notice(sample_store, cli):
    store = capme.Store(sample_store)
    text = store.transcript(**HTTP, **HTTP_WIN, maxtx=50)
    assert text.rstrip().endswith(
        "[transcript truncated at maxtx = 50 bytes: the flow has more payload than shown]")
    assert text == _cli_transcript(cli, sample_store, *HTTP_CLI, "--maxtx", "50").stdout
    it = store.transcript(**HTTP, **HTTP_WIN, style="json", maxtx=50)
    assert it.truncated is True and it.maxtx == 50
    assert sum(len(s.payload) for s in it) == 50
    full = store.transcript(**HTTP, **HTTP_WIN, style="json", maxtx=4300)
    assert full.truncated is False


def test_out_writes_the_cli_file(sample_store, cli, tmp_path):
    store = capme.Store(sample_store)
    for style in ("plain", "capme", "json"):
        out, ref = tmp_path / f"t.{style}", tmp_path / f"ref.{style}"
        store.transcript(**HTTP, **HTTP_WIN, style=style, out=out)
        _cli_transcript(cli, sample_store, *HTTP_CLI, "--style", style, "-o", str(ref))
        assert out.read_bytes() == ref.read_bytes() and out.stat().st_size > 0
        with pytest.raises(capme.InvalidQuery, match="already exists"):
            store.transcript(**HTTP, **HTTP_WIN, style=style, out=out)
        store.transcript(**HTTP, **HTTP_WIN, style=style, out=out, force=True)
    missing = tmp_path / "none.txt"
    with pytest.raises(capme.NoPackets):
        store.transcript(**dict(HTTP, dpt=81), **HTTP_WIN, out=missing)
    assert not missing.exists()


def test_transcript_errors(sample_store, cli):
    store = capme.Store(sample_store)
    with pytest.raises(capme.NoPackets) as e:
        store.transcript(**dict(HTTP, dpt=81), **HTTP_WIN)
    r = run_cli(cli, "transcript", "--store", sample_store,
                *[a if a != "80" else "81" for a in HTTP_CLI])
    assert r.returncode == 1 and r.stderr.strip().endswith(str(e.value))
    with pytest.raises(capme.InvalidQuery, match=r'^invalid style "xml": expected capme, '
                                                 r"plain or json$") as e2:
        store.transcript(**HTTP, **HTTP_WIN, style="xml")
    assert isinstance(e2.value, ValueError)
    for bad in (0, -1):
        with pytest.raises(capme.InvalidQuery, match=f'invalid maxtx "{bad}"'):
            store.transcript(**HTTP, **HTTP_WIN, maxtx=bad)
    with pytest.raises(TypeError, match="missing required argument 'stime'"):
        store.transcript(**HTTP)
    with pytest.raises(TypeError, match="'sip'"):
        store.transcript(**HTTP_WIN)


def test_url_equals_the_tuple_query(sample_store):
    store = capme.Store(sample_store)
    url = (f"{CAPME_URL}?sip=10.10.5.10&spt=52001&dip=10.10.5.20&dpt=22&stime=1718407577"
           "&etime=1718407578&usr=analyst&maxtx=500000&filename=squert")
    want = _ts(store.search(**QINQ, **QINQ_WIN))
    assert len(want) == 15
    assert _ts(store.search(url=url)) == want
    assert store.transcript(url=url) == store.transcript(**QINQ, **QINQ_WIN)
    # stime/etime replace the URL's window.
    assert len(_ts(store.search(url=url, stime="1718407577.9", etime=1718407578))) < 15
    # One flow form only: the error names the second.
    with pytest.raises(capme.InvalidQuery, match=r'^invalid url .*sip given'):
        store.search(sip="10.10.5.10", url=url)
    with pytest.raises(capme.InvalidQuery, match="spt"):
        store.search(url=url.replace("spt=52001", "spt=65536"))
    with pytest.raises(TypeError, match="url must be a str"):
        store.search(url=1)


def test_zeek_uid_equals_the_tuple_query(sample_store, zeek_logs, tmp_path):
    store = capme.Store(sample_store)
    want = _ts(store.search(**QINQ, **QINQ_WIN))
    assert _ts(store.search(zeek_uid="CqinqTSV1", zeek_logs=zeek_logs)) == want
    assert _ts(store.search(zeek_uid="CqinqTSV1", zeek_logs=str(zeek_logs), pad=0)) == want
    one = zeek_logs / "2024-06-14" / "conn.23:00:00-00:00:00.log"
    assert _ts(store.search(zeek_uid="CqinqTSV1", zeek_logs=one)) == want
    assert (store.transcript(zeek_uid="ChttpTSV1", zeek_logs=zeek_logs, style="capme")
            == store.transcript(**HTTP, **HTTP_WIN, style="capme"))
    s = store.extract(zeek_uid="CqinqTSV1", zeek_logs=zeek_logs, out=tmp_path / "z.pcap")
    ref = store.extract(**QINQ, **QINQ_WIN, out=tmp_path / "t.pcap")
    assert s.packets == 15 and s.community_id == ref.community_id
    assert (tmp_path / "z.pcap").read_bytes() == (tmp_path / "t.pcap").read_bytes()


def test_zeek_uid_errors(sample_store, zeek_logs):
    store = capme.Store(sample_store)
    with pytest.raises(capme.NoPackets, match="zeek uid CnotThere9 not found") as e:
        store.transcript(zeek_uid="CnotThere9", zeek_logs=zeek_logs)
    assert e.value.kind == "nopackets"
    with pytest.raises(capme.InvalidQuery, match="^invalid zeek_logs"):
        store.search(zeek_uid="CqinqTSV1")
    with pytest.raises(capme.InvalidQuery, match="^invalid stime"):
        store.search(zeek_uid="CqinqTSV1", zeek_logs=zeek_logs, stime=1718407577)
    with pytest.raises(capme.InvalidQuery, match="^invalid zeek_uid"):
        store.search(community_id="1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=", zeek_uid="CqinqTSV1",
                     zeek_logs=zeek_logs)


def test_pad_widens(sample_store):
    store = capme.Store(sample_store)
    narrow = dict(stime="1718406497.15", etime="1718406497.16")
    assert 0 < len(_ts(store.search(**HTTP, **narrow))) < 13
    for pad in (0.1, "0.1", 1, dt.timedelta(milliseconds=100)):
        assert len(_ts(store.search(**HTTP, **narrow, pad=pad))) == 13, pad
    with pytest.raises(capme.InvalidQuery, match="^invalid pad"):
        store.search(**HTTP, **narrow, pad=-1)
    with pytest.raises(TypeError, match="pad must be"):
        store.search(**HTTP, **narrow, pad=[1])


def test_whole_flow_recovers_a_flow_its_window_cuts(sample_store, zeek_logs, tmp_path):
    store = capme.Store(sample_store)
    want = _ts(store.search(**MIDNIGHT, **MIDNIGHT_ALL))
    assert len(want) == 54
    assert len(_ts(store.search(**MIDNIGHT, **MIDNIGHT_CUT))) < 54
    assert _ts(store.search(**MIDNIGHT, **MIDNIGHT_CUT, whole_flow=True)) == want
    # From the middle of the flow, growing both ways.
    assert _ts(store.search(**MIDNIGHT, stime=1718409600, etime=1718409600,
                            whole_flow=True)) == want
    # A Zeek record with its duration unset.
    z = dict(zeek_uid="Cmidnight1", zeek_logs=zeek_logs)
    assert len(_ts(store.search(**z))) < 54
    assert _ts(store.search(**z, whole_flow=True)) == want
    full = store.transcript(**MIDNIGHT, **MIDNIGHT_ALL)
    assert store.transcript(**MIDNIGHT, **MIDNIGHT_CUT) != full
    assert store.transcript(**MIDNIGHT, **MIDNIGHT_CUT, whole_flow=True) == full
    s = store.extract(**z, whole_flow=True, out=tmp_path / "w.pcap")
    assert s.packets == 54 and s.warnings == 0


def test_whole_flow_stops_at_max_window_with_a_warning(sample_store, cli, tmp_path):
    store = capme.Store(sample_store, max_window=10)
    message = "--whole-flow stopped at the window limit (--max-window)"
    s = store.extract(**MIDNIGHT, **MIDNIGHT_CUT, whole_flow=True, out=tmp_path / "l.pcap")
    assert s.packets < 54 and any(message in w for w in s.warning_messages)
    r = run_cli(cli, "extract", "--store", sample_store, "--sip", "10.10.10.10", "--spt",
                "45000", "--dip", "10.10.10.20", "--dpt", "5222", "--stime", "1718409579",
                "--etime", "1718409580", "--whole-flow", "--max-window", "10", "--json",
                "-o", str(tmp_path / "cli.pcap"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["warning_messages"] == s.warning_messages
    it = store.search(**MIDNIGHT, **MIDNIGHT_CUT, whole_flow=True)
    assert any(message in w for w in it.warning_messages)
    assert len(list(it)) < 54 and any(message in w for w in it.warning_messages)
    with pytest.warns(RuntimeWarning, match="whole-flow stopped"):
        store.transcript(**MIDNIGHT, **MIDNIGHT_CUT, whole_flow=True)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        it = store.transcript(**MIDNIGHT, **MIDNIGHT_CUT, whole_flow=True, style="json")
    assert any(message in w for w in it.warning_messages)


def test_udp_transcript(sample_store, cli):
    """A UDP flow: one block per datagram (the DNS query and answer)."""
    store = capme.Store(sample_store)
    dns = dict(sip="10.10.2.10", spt=53001, dip="10.10.2.53", dpt=53, proto="udp",
               stime=1718406929, etime=1718406929)
    segs = list(store.transcript(**dns, style="json"))
    assert [s.direction for s in segs] == ["src", "dst"]
    assert segs[0].offset == 0 and segs[1].offset == 0
    r = _cli_transcript(cli, sample_store, "--sip", "10.10.2.10", "--spt", "53001", "--dip",
                        "10.10.2.53", "--dpt", "53", "--proto", "udp", "--stime", "1718406929",
                        "--etime", "1718406929")
    assert store.transcript(**dns) == r.stdout
