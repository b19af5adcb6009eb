"""The Splunk app driven without a Splunk server: the | capme command through splunklib's
chunked protocol v2 (getinfo and execute chunks on stdin, as splunkd sends them), once with
the compiled module and once with the CLI fallback; and the scripted input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import capme
from helpers import tuple_args
from splunk_driver import APP, python_without_module as _python_without_module
from splunk_driver import flow_rows as _rows
from splunk_driver import run_command


@pytest.fixture
def app(tmp_path, sample_store):
    if not (APP / "bin" / "lib" / "splunklib").is_dir():
        raise RuntimeError("splunklib is not vendored: run capme-py/splunk/build.sh first")
    app_dir = tmp_path / "capme_app"
    shutil.copytree(APP, app_dir)
    (app_dir / "local").mkdir(exist_ok=True)
    return app_dir


def _configure(app_dir, store, archive, mode, cli, extra=""):
    (app_dir / "local" / "capme.conf").write_text(
        f"[capme]\nstore = {store}\narchive = {archive}\nmode = {mode}\ncapme_cli = {cli}\n{extra}"
    )


def _check_rows(rows, got, flows, sample_store, tmp_path, archive):
    assert len(got) == len(rows)
    store = capme.Store(sample_store)
    for row, out, flow in zip(rows, got, flows):
        for k in ("_time", "startTime", "endTime", "src", "src_port", "dest", "dest_port", "uid"):
            assert out[k] == row[k]
        assert out["capme_error"] == "", out
        ref = tmp_path / f"ref-{row['uid']}.pcap"
        s = store.extract(row["src"], row["src_port"], row["dest"], row["dest_port"],
                          row["startTime"], row["endTime"], proto=row["proto"], out=ref)
        assert int(out["pcap_packets"]) == s.packets > 0
        assert int(out["pcap_bytes"]) == s.bytes
        assert out["community_id"] == s.community_id == capme.community_id(
            *tuple_args(flow), flow["proto"])
        path = Path(out["pcap_path"])
        assert path.is_file() and archive in path.parents
        assert path.read_bytes() == ref.read_bytes()


BAD_ROWS = [
    ({"src": "10.10.5.999"}, 'invalid sip "10.10.5.999": not an IPv4 or IPv6 address'),
    ({"dest_port": "23"}, "no packet matched tcp 10.10.5.10:52001 <-> 10.10.5.20:23 between "
                          "2024-06-14T23:26:17.000000000Z and 2024-06-14T23:26:18.999999999Z"),
    ({"startTime": ""}, 'invalid stime "": empty time; expected epoch seconds or RFC 3339'),
]


def _bad_rows(flows):
    qinq = next(r for r, f in zip(_rows(flows), flows) if f["name"] == "qinq-tcp")
    rows = []
    for change, _ in BAD_ROWS:
        r = dict(qinq, uid="bad")
        r.update(change)
        rows.append(r)
    cid_row = dict(qinq, uid="cid", src="", src_port="", dest="", dest_port="", proto="",
                   community_id="1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=")
    return rows, cid_row


@pytest.mark.parametrize("path", ["module", "cli"])
def test_command(app, tmp_path, sample_store, flows, cli, path):
    archive = tmp_path / "archive"
    if path == "module":
        # The CLI path is not valid: only the module can produce results.
        _configure(app, sample_store, archive, "auto", tmp_path / "no-such-capme")
        python = sys.executable
    else:
        _configure(app, sample_store, archive, "auto", cli)
        python = _python_without_module()
    rows = _rows(flows)
    bad, cid_row = _bad_rows(flows)
    _, got = run_command(python, app, rows + bad + [cid_row])
    _check_rows(rows, got[:len(rows)], flows, sample_store, tmp_path, archive)
    for out, (_, message) in zip(got[len(rows):], BAD_ROWS):
        assert out["uid"] == "bad" and out["capme_error"] == message
        assert out["pcap_path"] == "" and out["pcap_packets"] == ""
    cid_out = got[-1]
    assert cid_out["capme_error"] == "" and int(cid_out["pcap_packets"]) == 15
    assert Path(cid_out["pcap_path"]).name.startswith("cid_")
    # Field options: the same flow under other field names.
    renamed = [{"_time": r["_time"], "startTime": r["startTime"], "endTime": r["endTime"],
                "src": r["dest"], "src_port": r["dest_port"], "dest": r["src"],
                "dest_port": r["src_port"], "uid": r["uid"], "proto": r["proto"],
                "community_id": ""} for r in rows[:2]]
    _, got2 = run_command(python, app, renamed,
                          args=["src_field=dest", "dest_field=src", "src_port_field=dest_port",
                                "dest_port_field=src_port", "force=true"])
    assert [g["pcap_path"] for g in got2] == [g["pcap_path"] for g in got[:2]]
    assert all(g["capme_error"] == "" for g in got2)


def test_command_paths_really_differ(app, tmp_path, sample_store, flows):
    """With no module and no CLI the command reports it (so the CLI test above used the CLI)."""
    _configure(app, sample_store, tmp_path / "a", "auto", tmp_path / "no-such-capme")
    _, got = run_command(_python_without_module(), app, _rows(flows)[:1])
    assert "no-such-capme" in got[0]["capme_error"]
    _configure(app, sample_store, tmp_path / "a", "cli", tmp_path / "no-such-capme")
    _, got = run_command(sys.executable, app, _rows(flows)[:1])
    assert "no-such-capme" in got[0]["capme_error"]


@pytest.mark.parametrize("path", ["module", "cli"])
def test_scripted_input(app, tmp_path, sample_store, flows, cli, path):
    archive = tmp_path / "archive"
    requests = tmp_path / "requests.jsonl"
    checkpoint = tmp_path / "state" / "checkpoint.json"
    extra = f"[input]\nrequests = {requests}\ncheckpoint = {checkpoint}\n"
    if path == "module":
        _configure(app, sample_store, archive, "module", "", extra)
        python = sys.executable
    else:
        _configure(app, sample_store, archive, "cli", cli, extra)
        python = _python_without_module()
    rows = _rows(flows)

    def run():
        r = subprocess.run([python, str(app / "bin" / "capme_input.py"), str(app)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return [json.loads(line) for line in r.stdout.splitlines()]

    assert run() == []  # no requests file yet
    with open(requests, "w") as f:
        for r in rows[:3]:
            f.write(json.dumps(r) + "\n")
    events = run()
    assert [e["uid"] for e in events] == ["C0", "C1", "C2"]  # one event per archive
    for e, flow in zip(events, flows):
        assert e["capme_error"] == "" and e["pcap_packets"] == flow["packet_count"]
        assert Path(e["pcap_path"]).is_file()
    state = json.loads(checkpoint.read_text())
    assert state["offset"] == requests.stat().st_size
    assert [p.name for p in checkpoint.parent.iterdir()] == ["checkpoint.json"]  # no temp left
    assert run() == []  # nothing new
    with open(requests, "a") as f:
        f.write(json.dumps(rows[3]) + "\n")
        f.write("not json\n")
        f.write(json.dumps(rows[4])[:20])  # a line still being written
    events = run()
    assert [e.get("uid") for e in events] == ["C3", None]
    assert events[1]["capme_error"].startswith("bad request line")
    with open(requests, "a") as f:
        f.write(json.dumps(rows[4])[20:] + "\n")
    events = run()
    assert [e["uid"] for e in events] == ["C4"]
    assert events[0]["pcap_packets"] == flows[4]["packet_count"]


def _flow_row(flows, name, **change):
    row = next(r for r, f in zip(_rows(flows), flows) if f["name"] == name)
    row = dict(row, uid=name)
    row.update(change)
    return row


def _module_or_cli(app, tmp_path, sample_store, cli, path, extra=""):
    archive = tmp_path / "archive"
    if path == "module":
        _configure(app, sample_store, archive, "auto", tmp_path / "no-such-capme", extra)
        return sys.executable
    _configure(app, sample_store, archive, "auto", cli, extra)
    return _python_without_module()


def _cli_transcript_json(cli, store, row, maxtx):
    r = subprocess.run([cli, "transcript", "--store", store, "--sip", row["src"], "--spt",
                        row["src_port"], "--dip", row["dest"], "--dpt", row["dest_port"],
                        "--proto", row["proto"], "--stime", row["startTime"], "--etime",
                        row["endTime"], "--style", "json", "--maxtx", str(maxtx)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("path", ["module", "cli"])
def test_command_transcript(app, tmp_path, sample_store, flows, cli, path):
    """| capme transcript=true adds the transcript field (capped at maxtx, with the notice)."""
    python = _module_or_cli(app, tmp_path, sample_store, cli, path)
    store = capme.Store(sample_store)
    rows = [_flow_row(flows, "tcp-v4"), _flow_row(flows, "udp-dns"),
            _flow_row(flows, "tcp-v4", dest_port="81")]

    def want(row, **kw):
        return store.transcript(row["src"], row["src_port"], row["dest"], row["dest_port"],
                                row["startTime"], row["endTime"], proto=row["proto"], **kw)

    _, got = run_command(python, app, rows, args=["transcript=true"])
    assert [g["capme_error"] for g in got[:2]] == ["", ""]
    for row, out in zip(rows[:2], got):
        assert int(out["pcap_packets"]) > 0
        assert out["transcript"] == want(row)
    assert "GET /capme/tcp-v4 HTTP/1.1" in got[0]["transcript"]
    assert got[2]["capme_error"].startswith("no packet matched") and got[2]["transcript"] == ""

    _, got = run_command(python, app, rows[:1], args=["transcript=t", "style=capme", "maxtx=50"])
    text = got[0]["transcript"]
    assert text == want(rows[0], style="capme", maxtx=50)
    assert text.startswith("HDR: Sensor Name:") and text.rstrip().endswith(
        "[transcript truncated at maxtx = 50 bytes: the flow has more payload than shown]")

    _, got = run_command(python, app, rows[:1], args=["transcript=true", "style=json",
                                                      "maxtx=50"])
    lines = got[0]["transcript"].splitlines()
    assert lines[-1] == ("[transcript truncated at maxtx = 50 bytes: the flow has more payload "
                         "than shown]")
    assert "\n".join(lines[:-1]) + "\n" == _cli_transcript_json(cli, sample_store, rows[0], 50)
    _, got = run_command(python, app, rows[:1], args=["transcript=true", "style=json"])
    assert got[0]["transcript"] == _cli_transcript_json(cli, sample_store, rows[0], 500000)

    # Without transcript=true no field is added.
    _, got = run_command(python, app, rows[:1])
    assert "transcript" not in got[0]


@pytest.mark.parametrize("path", ["module", "cli"])
def test_command_url_uid_and_pad(app, tmp_path, sample_store, flows, cli, path):
    """url_field=, uid_field= (zeek_logs in capme.conf) and pad= name the same flow as the
    5-tuple (the counterparts of the CLI's --url, --zeek-uid and --pad)."""
    logs = tmp_path / "zeek"
    logs.mkdir()
    (logs / "conn.log").write_text(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p"
        "\tproto\tservice\tduration\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\n"
        "1718407577.678912\tCqinqTSV1\t10.10.5.10\t52001\t10.10.5.20\t22\ttcp\tssh"
        "\t0.543733\n")
    python = _module_or_cli(app, tmp_path, sample_store, cli, path, f"zeek_logs = {logs}\n")
    qinq = _flow_row(flows, "qinq-tcp", uid="")
    empty = dict(src="", src_port="", dest="", dest_port="", proto="", startTime="",
                 endTime="")
    url = ("https://so.example/capme/index.php?sip=10.10.5.10&spt=52001&dip=10.10.5.20"
           "&dpt=22&stime=1718407577&etime=1718407578")
    rows = [qinq, dict(qinq, uid="", url=url, **empty), dict(qinq, uid="CqinqTSV1", **empty),
            dict(qinq, uid="CnotThere9", **empty)]
    _, got = run_command(python, app, rows,
                         args=["url_field=url", "uid_field=uid", "transcript=true"])
    assert [g["capme_error"] for g in got[:3]] == ["", "", ""], got
    assert [int(g["pcap_packets"]) for g in got[:3]] == [15, 15, 15]
    assert got[0]["transcript"] == got[1]["transcript"] == got[2]["transcript"] != ""
    # The archive name ends with the window: the URL's is the tuple's, the Zeek record's is
    # padded by 2 s. (A CapMe URL gives no protocol: its archive says "any".)
    window = [Path(g["pcap_path"]).name.rsplit("_", 1)[1] for g in got[:3]]
    assert window[0] == window[1] != window[2]
    assert "zeek uid CnotThere9 not found" in got[3]["capme_error"]
    # pad= widens the window (of the 5-tuple and of the URL alike).
    narrow = dict(qinq, startTime="1718407577.9", endTime="1718407578")
    narrow_url = dict(narrow, url=url.replace("stime=1718407577", "stime=1718407577.9"),
                      **empty)
    _, got = run_command(python, app, [narrow, narrow_url], args=["url_field=url"])
    assert int(got[0]["pcap_packets"]) < 15 and got[0]["pcap_packets"] == got[1]["pcap_packets"]
    _, got = run_command(python, app, [narrow, narrow_url], args=["url_field=url", "pad=1"])
    assert [int(g["pcap_packets"]) for g in got] == [15, 15]
    # Without uid_field, the uid field is not a flow: the 5-tuple is used.
    _, got = run_command(python, app, [dict(qinq, uid="CnotThere9")])
    assert got[0]["capme_error"] == "" and int(got[0]["pcap_packets"]) == 15
    # No zeek_logs configured: the error says so.
    _configure(app, sample_store, tmp_path / "archive", "auto",
               tmp_path / "no-such-capme" if path == "module" else cli)
    _, got = run_command(python, app, rows[2:3], args=["uid_field=uid"])
    assert "zeek_logs" in got[0]["capme_error"]
