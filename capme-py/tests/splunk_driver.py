"""Drives the Splunk app without a Splunk server: the | capme command through splunklib's
chunked protocol v2 (getinfo and execute chunks on stdin, as splunkd sends them). Shared by the
Splunk tests; imports no capme (the server-mode tests run without the compiled module)."""

import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

SPLUNK_DIR = Path(__file__).resolve().parents[1] / "splunk"
APP = SPLUNK_DIR / "capme_app"
FIELDS = ["_time", "startTime", "endTime", "src", "src_port", "dest", "dest_port", "uid",
          "proto", "community_id", "url"]


def _chunk(meta, body=""):
    m = json.dumps(meta).encode()
    b = body.encode()
    return b"chunked 1.0,%d,%d\n" % (len(m), len(b)) + m + b


def _read_chunks(data):
    out = []
    buf = io.BytesIO(data)
    while True:
        header = buf.readline()
        if not header:
            return out
        assert header.startswith(b"chunked 1.0,"), header
        mlen, blen = map(int, header[len(b"chunked 1.0,"):].split(b","))
        meta = json.loads(buf.read(mlen))
        body = buf.read(blen).decode()
        out.append((meta, body))


def run_command(python, app_dir, rows, args=(), env=None, searchinfo=None, errors=False):
    """Runs bin/capme_command.py as splunkd does (protocol v2) and returns (chunks, rows).
    ``searchinfo``: keys replacing the getinfo chunk's (e.g. splunkd_uri, session_key).
    ``errors``: the search's messages may hold an ERROR (else that fails the test)."""
    dispatch = Path(app_dir) / "dispatch"
    dispatch.mkdir(exist_ok=True)
    searchinfo_extra = searchinfo
    searchinfo = {
        "args": list(args), "raw_args": list(args), "dispatch_dir": str(dispatch),
        "sid": "1718407600.42", "app": "capme_app", "owner": "admin", "username": "admin",
        "session_key": "unused", "splunkd_uri": "https://127.0.0.1:8089",
        "splunk_version": "9.3.2", "search": "%7C%20capme", "command": "capme",
        "maxresultrows": 50000, "earliest_time": "0", "latest_time": "0",
    }
    searchinfo.update(searchinfo_extra or {})
    getinfo = {"action": "getinfo", "preview": False, "streaming_command_will_restart": False,
               "searchinfo": searchinfo}
    body = io.StringIO()
    w = csv.DictWriter(body, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    stdin = _chunk(getinfo) + _chunk({"action": "execute", "finished": True}, body.getvalue())
    r = subprocess.run([python, str(Path(app_dir) / "bin" / "capme_command.py")], input=stdin,
                       capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    chunks = _read_chunks(r.stdout)
    assert len(chunks) == 2, chunks
    info, (meta, out) = chunks[0][0], chunks[1]
    assert info.get("type") == "streaming", info
    assert meta.get("finished") is True, meta
    if not errors:
        assert "inspector" not in meta or "ERROR" not in json.dumps(meta["inspector"]), meta
    got = [{k: v for k, v in row.items() if not k.startswith("__mv_")}
           for row in csv.DictReader(io.StringIO(out))]
    return chunks, got


def flow_rows(flows):
    """Rows shaped like the issue's Splunk search, from the manifest's flows."""
    rows = []
    for i, f in enumerate(flows):
        first, last = f["first_ts_ns"] / 1e9, f["last_ts_ns"] / 1e9
        start = math.floor(first)
        end = round(start + (last - first))
        rows.append({"_time": f"{first:.6f}", "startTime": str(start), "endTime": str(end),
                     "src": f["src_ip"], "src_port": str(f["src_port"]), "dest": f["dst_ip"],
                     "dest_port": str(f["dst_port"]), "uid": f"C{i}", "proto": f["proto"],
                     "community_id": ""})
    return rows


def python_without_module():
    """An interpreter that cannot import capme: CAPME_SPLUNK_PYTHON when set (e.g. Splunk's
    3.9 or 3.13, to run the app on it), else the base interpreter of the test venv."""
    chosen = os.environ.get("CAPME_SPLUNK_PYTHON")
    if chosen:
        r = subprocess.run([chosen, "-c", "import capme"], capture_output=True)
        if r.returncode == 0:
            raise RuntimeError(f"CAPME_SPLUNK_PYTHON={chosen} imports capme")
        return chosen
    for candidate in (getattr(sys, "_base_executable", None), shutil.which("python3"),
                      "/usr/bin/python3"):
        if not candidate or not os.path.exists(candidate):
            continue
        r = subprocess.run([candidate, "-c", "import capme"], capture_output=True)
        if r.returncode != 0:
            return candidate
    raise RuntimeError("no Python interpreter without the capme module found")
