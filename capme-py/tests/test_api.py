"""The Python API on the sample store: results against the manifest and the CLI, arguments,
time formats, exceptions, FlowKey and Community ID."""

import datetime as dt
import ipaddress
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

import capme
from conftest import run_cli
from helpers import expected, tuple_args, window_of

QINQ = ("10.10.5.10", 52001, "10.10.5.20", 22)
QINQ_WIN = (1718407577, 1718407578)


def test_out_is_a_new_file_unless_force(sample_store, tmp_path):
    out = tmp_path / "f.pcap"
    out.write_bytes(b"keep")
    store = capme.Store(sample_store)
    with pytest.raises(capme.InvalidQuery, match="already exists"):
        store.extract(*QINQ, *QINQ_WIN, out=out)
    assert out.read_bytes() == b"keep"
    assert store.extract(*QINQ, *QINQ_WIN, out=out, force=True).packets == 15
    assert out.read_bytes() != b"keep"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(capme.InvalidQuery, match="not a regular file"):
        store.extract(*QINQ, *QINQ_WIN, out=fifo, force=True)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_every_manifest_flow(sample_store, flows):
    store = capme.Store(sample_store)
    for flow in flows:
        lo, hi = window_of(flow)
        packets = list(store.search(*tuple_args(flow), lo, hi, proto=flow["proto"]))
        want_ts, want_bytes = expected(flows, flow)
        assert [p.ts_ns for p in packets] == want_ts, flow["name"]
        assert sum(len(p.data) for p in packets) == want_bytes, flow["name"]
        assert {p.sensor for p in packets} >= {flow["sensor"]}


def test_packet_attributes(sample_store, flows):
    flow = next(f for f in flows if f["name"] == "qinq-tcp")
    packets = list(capme.Store(sample_store).search(*QINQ, *QINQ_WIN, proto="tcp"))
    assert len(packets) == 15
    for p, m in zip(packets, sorted(flow["packets"], key=lambda m: m["ts_ns"])):
        assert p.ts_ns == m["ts_ns"]
        assert abs(p.ts - m["ts_ns"] / 1e9) < 1e-6
        assert p.datetime.tzinfo is not None and p.datetime.utcoffset() == dt.timedelta(0)
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        assert p.datetime == epoch + dt.timedelta(microseconds=p.ts_ns // 1000)
        assert isinstance(p.data, bytes) and len(p.data) == m["len"]
        assert p.orig_len >= len(p.data)
        assert p.sensor == "sensor1-eth1"
        assert Path(p.file).is_file() and Path(p.file).name == Path(m["file"]).name
        assert p.linktype == 1
    raw = open(packets[0].file, "rb").read()
    assert packets[0].data in raw


def test_extract_equals_cli(sample_store, flows, cli, tmp_path):
    store = capme.Store(sample_store)
    for i, flow in enumerate(flows):
        lo, hi = window_of(flow)
        # Names repeat in the manifest (one flow, several windows): outputs are new files.
        py_out, cli_out = tmp_path / f"{i}-{flow['name']}-py.pcap", tmp_path / f"{i}-{flow['name']}-cli.pcap"
        s = store.extract(*tuple_args(flow), lo, hi, proto=flow["proto"], out=py_out)
        r = run_cli(cli, "extract", "--store", sample_store, "--sip", flow["src_ip"],
                    "--spt", str(flow["src_port"]), "--dip", flow["dst_ip"],
                    "--dpt", str(flow["dst_port"]), "--proto", flow["proto"],
                    "--stime", str(lo), "--etime", str(hi), "-o", str(cli_out), "--json")
        assert r.returncode == 0, r.stderr
        want = json.loads(r.stdout)
        got = s.as_dict()
        assert list(got) == list(want)
        for d in (got, want):
            d.pop("elapsed_ms")
            d.pop("output")
        assert got == want, flow["name"]
        assert py_out.read_bytes() == cli_out.read_bytes()
        assert s.output == str(py_out)


def test_summary_attributes(sample_store, tmp_path):
    s = capme.Store(sample_store).extract(*QINQ, *QINQ_WIN, proto="tcp", out=tmp_path / "f.pcap")
    d = s.as_dict()
    for key in ("packets", "bytes", "first_ts", "last_ts", "output", "community_id",
                "files_scanned", "bytes_read", "elapsed_ms", "cached", "warnings",
                "warning_messages", "first_ts_ns", "last_ts_ns"):
        assert getattr(s, key) == d[key], key
    for key in d:  # fields a newer capme-core adds are attributes too
        assert getattr(s, key) == d[key], key
    assert (s.packets, s.bytes, s.cached, s.warnings) == (15, 3776, False, 0)
    assert s.community_id == "1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk="
    assert s.first_ts_ns == 1718407577678912000 and s.last_ts_ns == 1718407578222645000
    with pytest.raises(AttributeError):
        s.no_such_field
    assert "packets=15" in repr(s)


def test_archive_matches_cli_and_caches(sample_store, cli, tmp_path):
    store = capme.Store(sample_store)
    a_py, a_cli = tmp_path / "py", tmp_path / "cli"
    s1 = store.extract(*QINQ, *QINQ_WIN, archive=a_py)
    r = run_cli(cli, "extract", "--store", sample_store, "--sip", QINQ[0], "--spt", str(QINQ[1]),
                "--dip", QINQ[2], "--dpt", str(QINQ[3]), "--stime", str(QINQ_WIN[0]),
                "--etime", str(QINQ_WIN[1]), "--archive", str(a_cli), "--json")
    assert r.returncode == 0, r.stderr
    want = json.loads(r.stdout)
    rel_py = Path(s1.output).relative_to(a_py)
    assert rel_py == Path(want["output"]).relative_to(a_cli)
    assert Path(s1.output).read_bytes() == Path(want["output"]).read_bytes()
    assert not s1.cached
    s2 = store.extract(*QINQ, *QINQ_WIN, archive=str(a_py))
    assert s2.cached and s2.output == s1.output and s2.packets == 15
    s3 = store.extract(*QINQ, *QINQ_WIN, archive=a_py, force=True)
    assert not s3.cached and s3.packets == 15


def test_time_formats(sample_store):
    store = capme.Store(sample_store)
    want = [p.ts_ns for p in store.search(*QINQ, *QINQ_WIN)]
    assert len(want) == 15
    forms = [
        (1718407577, 1718407578),
        ("1718407577", "1718407578"),
        (1718407577.0, 1718407578.5),
        ("2024-06-14T23:26:17Z", "2024-06-14T23:26:18Z"),
        ("2024-06-15T01:26:17+02:00", "2024-06-14T23:26:18.999999999Z"),
        (dt.datetime(2024, 6, 14, 23, 26, 17), dt.datetime(2024, 6, 14, 23, 26, 18)),
        (dt.datetime(2024, 6, 15, 1, 26, 17, tzinfo=dt.timezone(dt.timedelta(hours=2))),
         dt.datetime(2024, 6, 14, 23, 26, 18, 999999, tzinfo=dt.timezone.utc)),
    ]
    for stime, etime in forms:
        assert [p.ts_ns for p in store.search(*QINQ, stime, etime)] == want, (stime, etime)
    # An end time without a fraction covers its whole second; a float is an exact instant.
    last = want[-1]  # 1718407578.222645
    assert [p.ts_ns for p in store.search(*QINQ, 1718407577, 1718407578.0)][-1] < last
    assert [p.ts_ns for p in store.search(*QINQ, 1718407577, 1718407578.222645)][-1] == last
    assert len(list(store.search(*QINQ, 1718407577, 1718407578.222644))) == 14
    naive = dt.datetime(2024, 6, 14, 23, 26, 18, 222645)
    assert [p.ts_ns for p in store.search(*QINQ, 1718407577, naive)][-1] == last


def test_argument_types(sample_store):
    store = capme.Store([Path(sample_store)])
    a = list(store.search(ipaddress.ip_address(QINQ[0]), "52001", ipaddress.ip_address(QINQ[2]),
                          "22", *QINQ_WIN, proto=6))
    assert len(a) == 15
    assert len(list(store.search(sip=QINQ[2], spt=22, dip=QINQ[0], dpt=52001,
                                 stime=QINQ_WIN[0], etime=QINQ_WIN[1]))) == 15  # reversed
    with pytest.raises(TypeError):
        store.search(*QINQ, [1], QINQ_WIN[1])
    with pytest.raises(TypeError):
        store.search(*QINQ, True, QINQ_WIN[1])
    with pytest.raises(TypeError):
        store.search(QINQ[0], 1.5, QINQ[2], 22, *QINQ_WIN)
    with pytest.raises(TypeError, match="stime"):
        store.search(*QINQ)
    with pytest.raises(TypeError, match="sip"):
        store.search(stime=1, etime=2)
    with pytest.raises(TypeError, match="out= or archive="):
        store.extract(*QINQ, *QINQ_WIN)
    with pytest.raises(TypeError):
        store.extract(*QINQ, *QINQ_WIN, out="/tmp/x", archive="/tmp/y")
    # capme-core's QueryText parser rejects a Community ID with tuple fields, naming both (the
    # CLI's clap rejects the combination before it reaches the parser).
    with pytest.raises(capme.InvalidQuery,
                       match=r'^invalid community_id "1:Lh7B.*": .*not both \(sip given\)$'):
        store.search(QINQ[0], community_id="1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=", stime=1, etime=2)
    with pytest.raises(capme.InvalidQuery, match=r"\(dpt given\)$"):
        store.extract(community_id="1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=", dpt=22, stime=1, etime=2,
                      out="/nonexistent/x.pcap")
    with pytest.raises(TypeError, match="community_id must be a str"):
        store.search(community_id=1, stime=1, etime=2)
    assert store.roots == [sample_store]
    assert store.index_dir is None
    assert capme.Store(sample_store, index_dir="/var/tmp/idx").index_dir == "/var/tmp/idx"


# (python kwargs, CLI arguments, exception class, CLI exit code)
CASES = [
    (dict(sip="10.0.0.300"), ["--sip", "10.0.0.300"], capme.InvalidQuery, 2),
    (dict(spt=70000), ["--spt", "70000"], capme.InvalidQuery, 2),
    (dict(spt="-1"), ["--spt=-1"], capme.InvalidQuery, 2),
    (dict(dip="::1"), ["--dip", "::1"], capme.InvalidQuery, 2),
    (dict(proto="tcpx"), ["--proto", "tcpx"], capme.InvalidQuery, 2),
    (dict(proto="icmp", dip="10.10.5.20", spt=300), ["--proto", "icmp", "--spt", "300"],
     capme.InvalidQuery, 2),
    (dict(stime="yesterday"), ["--stime", "yesterday"], capme.InvalidQuery, 2),
    (dict(stime="1718407577.1234567891"), ["--stime", "1718407577.1234567891"],
     capme.InvalidQuery, 2),
    (dict(etime=1718407500), ["--etime", "1718407500"], capme.InvalidQuery, 2),
    (dict(etime="2024-13-01T00:00:00Z"), ["--etime", "2024-13-01T00:00:00Z"],
     capme.InvalidQuery, 2),
    (dict(dpt=23), ["--dpt", "23"], capme.NoPackets, 1),
    (dict(stime=1718400000, etime=1718400001), ["--stime", "1718400000", "--etime", "1718400001"],
     capme.NoPackets, 1),
]


def _cli_args(sample_store, override):
    base = {"--sip": QINQ[0], "--spt": str(QINQ[1]), "--dip": QINQ[2], "--dpt": str(QINQ[3]),
            "--stime": str(QINQ_WIN[0]), "--etime": str(QINQ_WIN[1])}
    extra = []
    i = 0
    while i < len(override):
        o = override[i]
        if "=" in o:
            k, v = o.split("=", 1)
            base.pop(k, None)
            extra.append(o)
            i += 1
        else:
            base[o] = override[i + 1]
            i += 2
    args = ["extract", "--store", sample_store]
    for k, v in base.items():
        args += [k, v]
    return args + extra


@pytest.mark.parametrize("kwargs,cli_args,exc,code", CASES)
def test_errors_match_cli(sample_store, cli, tmp_path, kwargs, cli_args, exc, code):
    store = capme.Store(sample_store)
    call = dict(sip=QINQ[0], spt=QINQ[1], dip=QINQ[2], dpt=QINQ[3],
                stime=QINQ_WIN[0], etime=QINQ_WIN[1])
    call.update(kwargs)
    out = tmp_path / "out.pcap"
    r = run_cli(cli, *_cli_args(sample_store, cli_args), "-o", str(out))
    assert r.returncode == code, r.stderr
    cli_msg = r.stderr.strip().splitlines()[-1]
    assert cli_msg.startswith("capme: ")
    with pytest.raises(exc) as e:
        store.extract(**call, out=out)
    assert type(e.value) is exc
    assert str(e.value) == cli_msg[len("capme: "):]
    assert not out.exists()
    if exc is capme.InvalidQuery:
        # Invalid arguments raise when search() is called, not at the first iteration.
        with pytest.raises(exc) as e2:
            store.search(**call)
        assert str(e2.value) == str(e.value)


def test_community_id_errors_match_cli(sample_store, cli, tmp_path):
    for bad in ["2:abc", "1:nope", "zz"]:
        r = run_cli(cli, "extract", "--store", sample_store, "--community-id", bad,
                    "--stime", "1", "--etime", "2", "-o", str(tmp_path / "x.pcap"))
        assert r.returncode == 2
        with pytest.raises(capme.InvalidQuery) as e:
            capme.Store(sample_store).search(community_id=bad, stime=1, etime=2)
        assert "capme: " + str(e.value) == r.stderr.strip()


def test_store_errors(cli, tmp_path):
    missing = tmp_path / "missing"
    r = run_cli(cli, "extract", "--store", str(missing), *sum(
        ([k, v] for k, v in [("--sip", "1.1.1.1"), ("--spt", "1"), ("--dip", "2.2.2.2"),
                             ("--dpt", "2"), ("--stime", "1"), ("--etime", "2")]), []),
        "-o", str(tmp_path / "x"))
    assert r.returncode == 3
    with pytest.raises(capme.StoreError) as e:
        capme.Store(missing)
    assert "capme: " + str(e.value) == r.stderr.strip()
    assert isinstance(e.value, OSError) and isinstance(e.value, capme.CapmeError)
    assert e.value.kind == "store"


def test_exception_hierarchy():
    assert issubclass(capme.InvalidQuery, capme.CapmeError)
    assert issubclass(capme.InvalidQuery, ValueError)
    assert issubclass(capme.StoreError, capme.CapmeError)
    assert issubclass(capme.StoreError, OSError)
    assert issubclass(capme.NoPackets, capme.CapmeError)
    assert not issubclass(capme.NoPackets, (ValueError, OSError))
    assert capme.InvalidQuery.__module__ == "capme"
    try:
        capme.community_id("1.2.3.4", 1, "5.6.7.8", 2, "bogus")
    except ValueError as e:
        assert e.kind == "invalid"
    else:
        raise AssertionError("no exception")


def test_corrupt_capture_is_store_error(sample_store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    f = sorted(root.rglob("snort.log.1718407037"))[0]
    data = bytearray(f.read_bytes())
    # A record header claiming a huge length right after the file header: the file is corrupt.
    data[24 + 8:24 + 12] = (0x7FFFFFFF).to_bytes(4, "little")
    data[24 + 12:24 + 16] = (0x7FFFFFFF).to_bytes(4, "little")
    f.write_bytes(bytes(data))
    store = capme.Store(root)
    try:
        packets = list(store.search(*QINQ, *QINQ_WIN))
    except capme.StoreError as e:
        assert e.kind in ("format", "io")
    else:
        it = store.search(*QINQ, *QINQ_WIN)
        list(it)
        assert it.warning_messages, "a corrupt record is at least a warning"
        assert len(packets) <= 15


def test_search_is_lazy(sample_store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(sample_store, root)
    store = capme.Store(root)
    it = store.search(*QINQ, *QINQ_WIN)
    assert it.files_scanned == 0 and it.bytes_read == 0
    # The files are read only when the iterator is consumed: remove them now.
    for f in root.rglob("snort.log.*"):
        f.unlink()
    # Had the search read them at creation, it would now yield the 15 packets.
    assert list(it) == []
    assert any("snort.log" in w for w in it.warning_messages), it.warning_messages
    # A fresh iterator over the intact store reads files only on the first next().
    it2 = capme.Store(sample_store).search(*QINQ, *QINQ_WIN)
    assert it2.files_scanned == 0
    first = next(it2)
    assert first.ts_ns == 1718407577678912000 and it2.bytes_read > 0
    assert len(list(it2)) == 14
    assert next(it2, None) is None


def test_iterator_close(sample_store):
    it = capme.Store(sample_store).search(*QINQ, *QINQ_WIN)
    next(it)
    it.close()
    assert list(it) == []


def test_community_id_matches_cli(cli, flows):
    for flow in flows:
        sip, spt, dip, dpt = tuple_args(flow)
        args = ["community-id", "--sip", sip, "--spt", str(spt), "--dip", dip,
                "--dpt", str(dpt), "--proto", flow["proto"]]
        for seed, b64 in [(0, True), (7, False)]:
            extra = ["--seed", str(seed)] + ([] if b64 else ["--no-base64"])
            r = run_cli(cli, *args, *extra)
            assert r.returncode == 0, r.stderr
            got = capme.community_id(sip, spt, dip, dpt, flow["proto"], seed=seed, base64=b64)
            assert got == r.stdout.strip()
            assert capme.community_id(dip, dpt, sip, spt, flow["proto"], seed, b64) == got \
                or flow["proto"].startswith("icmp")
    # The reference value of the Community ID specification's README.
    assert capme.community_id("128.232.110.120", 34855, "66.35.250.204", 80, "tcp") == \
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    with pytest.raises(capme.InvalidQuery):
        capme.community_id("1.2.3.4", 1, "5.6.7.8", 2, "tcp", seed=70000)


def test_search_by_community_id(sample_store):
    store = capme.Store(sample_store)
    cid = capme.community_id(*QINQ, "tcp")
    by_cid = [p.ts_ns for p in store.search(community_id=cid, stime=QINQ_WIN[0], etime=QINQ_WIN[1])]
    assert by_cid == [p.ts_ns for p in store.search(*QINQ, *QINQ_WIN, proto="tcp")]
    hexid = capme.community_id(*QINQ, "tcp", base64=False)
    assert len(list(store.search(community_id=hexid, stime=QINQ_WIN[0], etime=QINQ_WIN[1]))) == 15


def test_flowkey():
    a = capme.FlowKey("10.0.0.2", 80, "10.0.0.1", 5000, "tcp")
    b = capme.FlowKey.from_tuple(("10.0.0.1", 5000, "10.0.0.2", 80, 6))
    assert a == b and hash(a) == hash(b) and not (a != b)
    assert {a: 1}[b] == 1
    assert a.first == ("10.0.0.1", 5000) and a.second == ("10.0.0.2", 80)
    assert a.proto == "tcp" and a.proto_number == 6
    assert a.as_tuple() == ("10.0.0.1", 5000, "10.0.0.2", 80, "tcp")
    assert a.community_id() == capme.community_id("10.0.0.1", 5000, "10.0.0.2", 80, "tcp")
    assert str(a) == "tcp 10.0.0.1:5000 <-> 10.0.0.2:80"
    assert eval(repr(a), {"capme": capme}) == a
    c = capme.FlowKey("10.0.0.1", 5001, "10.0.0.2", 80, "tcp")
    d = capme.FlowKey("10.0.0.1", 5000, "10.0.0.2", 80, "udp")
    assert a < c and c > a and a <= b and a >= b
    assert sorted([d, c, a]) == [a, c, d]  # by protocol number first, then endpoints
    assert a != "tcp 10.0.0.1:5000 <-> 10.0.0.2:80"
    # ICMP echo request and reply are one flow; GRE needs no ports.
    assert capme.FlowKey("10.0.0.1", 8, "10.0.0.2", 0, "icmp") == \
        capme.FlowKey("10.0.0.2", 0, "10.0.0.1", 0, "icmp")
    g = capme.FlowKey("10.0.0.1", None, "10.0.0.2", None, 47)
    assert g.first == ("10.0.0.1", 0) and g.proto == "proto47"
    with pytest.raises(capme.InvalidQuery, match="spt"):
        capme.FlowKey("10.0.0.1", None, "10.0.0.2", 80, "tcp")
    with pytest.raises(TypeError):
        capme.FlowKey.from_tuple(("10.0.0.1", 1, "10.0.0.2"))


def test_typing_files_installed():
    pkg = Path(capme.__file__).parent
    assert (pkg / "py.typed").is_file()
    # Every public name is typed: the compiled module's in _capme.pyi, the exceptions in the
    # real module _errors.py (scripts/test.sh also runs mypy's stubtest on the package).
    typed = (pkg / "_capme.pyi").read_text() + (pkg / "_errors.py").read_text()
    for name in capme.__all__:
        if name != "__version__":
            assert f"class {name}" in typed or f"def {name}" in typed, name
    for obj in (capme.Store, capme.Store.search, capme.Store.extract, capme.Packet,
                capme.Summary, capme.Summary.as_dict, capme.FlowKey, capme.community_id,
                capme.SearchIterator, capme.CapmeError, capme.InvalidQuery, capme.StoreError,
                capme.NoPackets, capme.Cancelled, capme.Packet.caplen, capme.Packet.orig_len,
                capme.Summary.files_indexed):
        assert obj.__doc__ and len(obj.__doc__) > 20, obj
    assert "naive" in capme.Store.__doc__


def test_index_dir_is_used(sample_store, cli, tmp_path):
    """An index built by `capme index --index-dir` answers the extraction: same bytes."""
    idx = tmp_path / "idx"
    r = run_cli(cli, "index", "--store", sample_store, "--index-dir", str(idx))
    assert r.returncode == 0, r.stderr
    plain = capme.Store(sample_store).extract(*QINQ, *QINQ_WIN, out=str(tmp_path / "a.pcap"))
    indexed = capme.Store(sample_store, index_dir=str(idx)).extract(*QINQ, *QINQ_WIN, out=str(tmp_path / "b.pcap"))
    assert plain.files_indexed == 0 and plain.files_scanned > 0
    assert indexed.files_indexed > 0 and indexed.files_scanned == 0
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()


def test_exceptions_live_in_errors_module():
    """The exception classes are those of the real module capme._errors (the compiled module
    raises them, it does not define its own), picklable by their public names."""
    import pickle

    import capme._errors as errors

    for name in ("CapmeError", "InvalidQuery", "StoreError", "NoPackets", "Cancelled"):
        assert getattr(capme, name) is getattr(errors, name), name
        assert not hasattr(capme._capme, name), name
    assert issubclass(capme.Cancelled, capme.CapmeError)
    assert not issubclass(capme.Cancelled, (ValueError, OSError))
    assert {c.kind for c in (capme.InvalidQuery, capme.StoreError, capme.NoPackets,
                             capme.Cancelled)} == {"invalid", "store", "nopackets", "cancelled"}
    with pytest.raises(capme.InvalidQuery) as e:
        capme.Store(".").search("10.0.0.300", 1, "10.0.0.2", 2, 1, 2)
    assert type(e.value) is errors.InvalidQuery
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is capme.InvalidQuery and str(back) == str(e.value)


# (python arguments of community_id, CLI arguments of `capme community-id`)
CID_ERRORS = [
    (("1.2.3.4", 1, "5.6.7.8", 2, "bogus"),
     ["--sip", "1.2.3.4", "--spt", "1", "--dip", "5.6.7.8", "--dpt", "2", "--proto", "bogus"]),
    (("1.2.3.4", None, "5.6.7.8", 2, "tcp"),
     ["--sip", "1.2.3.4", "--dip", "5.6.7.8", "--dpt", "2", "--proto", "tcp"]),
    (("1.2.3.4", 300, "5.6.7.8", 0, "icmp"),
     ["--sip", "1.2.3.4", "--spt", "300", "--dip", "5.6.7.8", "--dpt", "0", "--proto", "icmp"]),
    (("::1", 8, "::2", 0, "icmp"),
     ["--sip", "::1", "--spt", "8", "--dip", "::2", "--dpt", "0", "--proto", "icmp"]),
    (("1.2.3.4", 1, "::2", 2, "udp"),
     ["--sip", "1.2.3.4", "--spt", "1", "--dip", "::2", "--dpt", "2", "--proto", "udp"]),
    (("1.2.3.4", "x", "5.6.7.8", 2, 6),
     ["--sip", "1.2.3.4", "--spt", "x", "--dip", "5.6.7.8", "--dpt", "2", "--proto", "6"]),
]


@pytest.mark.parametrize("args,cli_args", CID_ERRORS)
def test_community_id_and_flowkey_errors_match_cli(cli, args, cli_args):
    r = run_cli(cli, "community-id", *cli_args)
    assert r.returncode == 2, r.stderr
    want = r.stderr.strip()
    assert want.startswith("capme: ")
    for make in (capme.community_id, capme.FlowKey, lambda *a: capme.FlowKey.from_tuple(a)):
        with pytest.raises(capme.InvalidQuery) as e:
            make(*args)
        assert "capme: " + str(e.value) == want, make
        assert e.value.kind == "invalid"


def test_packet_length_fields(sample_store):
    """caplen and orig_len: the names of the C and Tcl bindings."""
    packets = list(capme.Store(sample_store).search(*QINQ, *QINQ_WIN))
    assert len(packets) == 15
    for p in packets:
        assert p.caplen == len(p.data) <= p.orig_len
        assert f"caplen={p.caplen} orig_len={p.orig_len}" in repr(p)


def _summary_attributes():
    """The public data attributes of capme.Summary (its typed properties)."""
    return {name for name, value in vars(capme.Summary).items()
            if not name.startswith("_") and not callable(value)}


def test_summary_attributes_are_the_cli_json_keys(sample_store, cli, tmp_path):
    """Every `capme extract --json` key is a typed attribute of Summary and nothing else is:
    fails when capme-core's Summary gains or loses a field the binding does not follow."""
    r = run_cli(cli, "extract", "--store", sample_store, "--sip", QINQ[0], "--spt", str(QINQ[1]),
                "--dip", QINQ[2], "--dpt", str(QINQ[3]), "--stime", str(QINQ_WIN[0]),
                "--etime", str(QINQ_WIN[1]), "-o", str(tmp_path / "cli.pcap"), "--json")
    assert r.returncode == 0, r.stderr
    cli_keys = set(json.loads(r.stdout))
    s = capme.Store(sample_store).extract(*QINQ, *QINQ_WIN, out=tmp_path / "py.pcap")
    assert _summary_attributes() == cli_keys
    assert set(s.as_dict()) == cli_keys
    assert cli_keys >= {"packets", "bytes", "first_ts", "last_ts", "output", "community_id",
                        "files_scanned", "files_indexed", "bytes_read", "elapsed_ms", "cached",
                        "warnings", "warning_messages", "first_ts_ns", "last_ts_ns",
                        "truncated"}
    # Each attribute is typed (a property with a docstring in the stub, not a __getattr__).
    stub = (Path(capme.__file__).parent / "_capme.pyi").read_text()
    summary_stub = stub[stub.index("class Summary"):stub.index("class Store")]
    for key in cli_keys:
        assert f"def {key}(self)" in summary_stub, key
    assert "__getattr__" not in summary_stub


def test_sensors_restrict_like_the_cli(sample_store, flows, cli):
    """``Store(sensors=[...])`` is the CLI's ``--sensor``: the shared 5-tuple seen by both
    sensors comes back from one sensor only, and an unknown sensor is InvalidQuery naming
    ``sensor``; ``no_catalogue=True`` gives the same packets."""
    flow = next(f for f in flows if f["name"] == "shared-tcp")
    lo, hi = window_of(flow)
    args = (*tuple_args(flow), lo, hi)
    every = list(capme.Store(sample_store).search(*args, proto="tcp"))
    assert {p.sensor for p in every} == {"sensor1-eth1", "sensor2-eth0"}
    for sensor in ("sensor1-eth1", "sensor2-eth0"):
        one = list(capme.Store(sample_store, sensors=[sensor]).search(*args, proto="tcp"))
        assert one and {p.sensor for p in one} == {sensor}
        assert [p.ts_ns for p in one] == [p.ts_ns for p in every if p.sensor == sensor]
    plain = capme.Store(sample_store, no_catalogue=True)
    assert [p.ts_ns for p in plain.search(*args, proto="tcp")] == [p.ts_ns for p in every]
    with pytest.raises(capme.InvalidQuery) as e:
        list(capme.Store(sample_store, sensors=["nope"]).search(*args, proto="tcp"))
    assert "sensor" in str(e.value) and "sensor1-eth1" in str(e.value)
    cli_run = run_cli(cli, "files", "--store", sample_store, "--stime", str(lo), "--etime", str(hi),
                      "--sensor", "nope")
    assert cli_run.returncode == 2 and "sensor" in cli_run.stderr
