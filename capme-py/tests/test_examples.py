"""The Python examples users copy (examples/python/), run as scripts against the sample store:
they must keep working as the API changes. Outputs go to temporary directories only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import capme
from conftest import REPO

SCRIPTED_INPUT = REPO / "examples" / "python" / "scripted_input.py"
FLOW = ["sip=10.10.5.10", "spt=52001", "dip=10.10.5.20", "dpt=22", "proto=tcp",
        "stime=1718407577", "etime=1718407578"]
QINQ = ("10.10.5.10", 52001, "10.10.5.20", 22, 1718407577, 1718407578)


def run(*args, env=None, cwd=None):
    e = dict(os.environ)
    for k in ("CAPME_STORE", "CAPME_FLOW", "CAPME_ARCHIVE"):
        e.pop(k, None)
    e.update(env or {})
    r = subprocess.run([sys.executable, str(SCRIPTED_INPUT), *args], capture_output=True,
                       text=True, env=e, cwd=cwd, timeout=120)
    return r, [json.loads(line) for line in r.stdout.splitlines()]


def test_scripted_input_prints_one_event_per_packet(sample_store, tmp_path):
    r, events = run("--store", sample_store, *FLOW, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    want = list(capme.Store(sample_store).search(*QINQ, proto="tcp"))
    assert len(events) == len(want) == 15
    for e, p in zip(events, want):
        assert e["ts_ns"] == p.ts_ns and e["_time"] == p.ts
        assert (e["caplen"], e["orig_len"], e["sensor"]) == (p.caplen, p.orig_len, p.sensor)
        assert bytes.fromhex(e["data"]) == p.data
    assert list(tmp_path.iterdir()) == []  # it wrote nothing


def test_scripted_input_from_env_with_splunk_names(sample_store, tmp_path):
    flow = "src=10.10.5.20 src_port=22 dest=10.10.5.10 dest_port=52001 " \
           "startTime=1718407577 endTime=1718407578"
    r, events = run(env={"CAPME_STORE": sample_store, "CAPME_FLOW": flow}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(events) == 15


def test_scripted_input_summary_equals_extract(sample_store, tmp_path):
    out = tmp_path / "flow.pcap"
    r, events = run("--store", sample_store, "--out", str(out), *FLOW, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(events) == 1
    event = events[0]
    ref = capme.Store(sample_store).extract(*QINQ, proto="tcp", out=tmp_path / "ref.pcap")
    want = ref.as_dict()
    assert event.pop("_time") == ref.first_ts
    for d in (event, want):
        d.pop("elapsed_ms")
        d.pop("output")
    assert event == want and event["packets"] == 15
    assert out.read_bytes() == (tmp_path / "ref.pcap").read_bytes()
    # The archive, from the environment, by Community ID.
    archive = tmp_path / "archive"
    cid = capme.community_id(*QINQ[:4], "tcp")
    r, events = run(env={"CAPME_STORE": sample_store, "CAPME_ARCHIVE": str(archive),
                         "CAPME_FLOW": f"community_id={cid} stime=1718407577 etime=1718407578"})
    assert r.returncode == 0, r.stderr
    assert events[0]["packets"] == 15 and events[0]["community_id"] == cid
    assert Path(events[0]["output"]).read_bytes() == out.read_bytes()
    assert archive in Path(events[0]["output"]).parents


def test_scripted_input_errors_are_events_with_cli_exit_codes(sample_store, cli, tmp_path):
    bad = [w if not w.startswith("sip=") else "sip=10.10.5.999" for w in FLOW]
    r, events = run("--store", sample_store, *bad, cwd=tmp_path)
    assert r.returncode == 2
    cli_r = subprocess.run([cli, "extract", "--store", sample_store, "--sip", "10.10.5.999",
                            "--spt", "52001", "--dip", "10.10.5.20", "--dpt", "22",
                            "--stime", "1718407577", "--etime", "1718407578",
                            "-o", str(tmp_path / "x.pcap")], capture_output=True, text=True)
    assert cli_r.returncode == 2
    assert events == [{"capme_error": cli_r.stderr.strip()[len("capme: "):], "kind": "invalid",
                       **dict(w.split("=", 1) for w in bad)}]
    # Nothing matched: exit 1, as the CLI.
    r, events = run("--store", sample_store, "--out", str(tmp_path / "none.pcap"),
                    *[w if not w.startswith("dpt=") else "dpt=23" for w in FLOW])
    assert r.returncode == 1 and events[0]["kind"] == "nopackets"
    assert not (tmp_path / "none.pcap").exists()
    r, events = run("--store", str(tmp_path / "missing"), *FLOW)
    assert r.returncode == 3 and events[0]["kind"] == "store"
