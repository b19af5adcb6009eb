"""The Splunk app in server mode (capme.conf ``server = URL``): the | capme command and the
scripted input against a real ``capme serve`` on a loopback port over a copy of the sample
store, run by an interpreter without the compiled capme module (server mode needs none). The
results are compared with the local mode (the CLI over the same store); ``pcap_url`` is
downloaded and compared with ``capme extract``'s bytes. Also: HTTP basic auth with a users file
and the password from a stand-in for splunkd's storage/passwords, https with a private CA, an
unreachable server, bad settings, and the workflow action's link on the running server."""

import base64
import configparser
import http.server
import json
import math
import re
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import SAMPLE_STORE
from splunk_driver import APP, flow_rows, python_without_module, run_command

PY = None  # the interpreter without the capme module (set once)


def _python():
    global PY
    if PY is None:
        PY = python_without_module()
    return PY


class Serve:
    """A ``capme serve`` child on 127.0.0.1 with a free port (``--listen 127.0.0.1:0``): the
    address comes from its ``listening on`` line; stderr is drained by a thread."""

    def __init__(self, cli, store, *args):
        self.proc = subprocess.Popen(
            [cli, "serve", "--store", str(store), "--listen", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.log = []
        ready = threading.Event()
        self.base = None

        def drain():
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on (https?://\S+)", line)
                if m and self.base is None:
                    self.base = m.group(1)
                    ready.set()
            ready.set()  # exited before listening

        threading.Thread(target=drain, daemon=True).start()
        # A guard against a hang, not a timing assertion.
        ready.wait(60)
        if self.base is None:
            self.stop()
            raise RuntimeError("capme serve did not start: " + "".join(self.log))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A copy of the sample store (the tests never use examples/data itself)."""
    root = tmp_path_factory.mktemp("store") / "store"
    shutil.copytree(SAMPLE_STORE, root)
    return root


@pytest.fixture(scope="module")
def server(cli, store):
    s = Serve(cli, store, "--insecure-no-auth")
    yield s
    s.stop()


@pytest.fixture
def app(tmp_path):
    if not (APP / "bin" / "lib" / "splunklib").is_dir():
        raise RuntimeError("splunklib is not vendored: run capme-py/splunk/build.sh first")
    app_dir = tmp_path / "capme_app"
    shutil.copytree(APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    (app_dir / "local").mkdir(exist_ok=True)
    return app_dir


def configure(app_dir, text):
    (app_dir / "local" / "capme.conf").write_text("[capme]\n" + text)


def local_app(tmp_path, store, cli):
    """A second copy of the app in local (CLI) mode over the same store."""
    d = tmp_path / "local_app" / "capme_app"
    shutil.copytree(APP, d, ignore=shutil.ignore_patterns("__pycache__"))
    (d / "local").mkdir(exist_ok=True)
    configure(d, f"store = {store}\narchive = {tmp_path / 'archive'}\nmode = cli\n"
                 f"capme_cli = {cli}\n")
    return d


def bad_rows(flows):
    qinq = next(r for r, f in zip(flow_rows(flows), flows) if f["name"] == "qinq-tcp")
    return [dict(qinq, uid="bad-ip", src="10.10.5.999"),
            dict(qinq, uid="no-packets", dest_port="23"),
            dict(qinq, uid="no-stime", startTime=""),
            dict(qinq, uid="cid", src="", src_port="", dest="", dest_port="", proto="",
                 community_id="1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=")]


def fetch(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                timeout=60) as r:
        return r.read(), r.headers


def test_server_mode_equals_local_mode(app, tmp_path, store, server, cli, flows):
    """Every sample flow and the bad rows: the same packets, bytes, Community ID and error
    messages as the local mode; pcap_url set exactly for the found flows."""
    configure(app, f"server = {server.base}\n")
    rows = flow_rows(flows) + bad_rows(flows)
    _, got = run_command(_python(), app, rows)
    _, want = run_command(_python(), local_app(tmp_path, store, cli), rows)
    assert len(got) == len(want) == len(rows)
    found = 0
    for g, w in zip(got, want):
        for k in ("uid", "src", "dest", "pcap_packets", "pcap_bytes", "community_id",
                  "capme_error"):
            assert g[k] == w[k], (k, g, w)
        assert g["pcap_path"] == ""  # nothing is written on the search head
        assert w["pcap_url"] == ""  # no server configured in the local app
        if g["capme_error"]:
            assert g["pcap_url"] == "" and g["pcap_packets"] == ""
        else:
            found += 1
            assert int(g["pcap_packets"]) > 0
            assert g["pcap_url"].startswith(server.base + "/api/v1/pcap?")
    assert found == len(flows) + 1  # the flows and the Community ID row
    errors = {g["uid"]: g["capme_error"] for g in got}
    assert errors["bad-ip"] == 'invalid sip "10.10.5.999": not an IPv4 or IPv6 address'
    assert errors["no-packets"].startswith("no packet matched tcp 10.10.5.10:52001 <-> "
                                           "10.10.5.20:23 between ")


def test_pcap_url_downloads_the_extracted_capture(app, tmp_path, store, server, cli, flows):
    configure(app, f"server = {server.base}\n")
    rows = flow_rows(flows)[:4]
    _, got = run_command(_python(), app, rows)
    for row, g in zip(rows, got):
        assert g["capme_error"] == "", g
        ref = tmp_path / f"{row['uid']}.pcap"
        r = subprocess.run([cli, "extract", "--store", str(store), "--sip", row["src"],
                            "--spt", row["src_port"], "--dip", row["dest"], "--dpt",
                            row["dest_port"], "--proto", row["proto"], "--stime",
                            row["startTime"], "--etime", row["endTime"], "-o", str(ref)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        body, headers = fetch(g["pcap_url"])
        assert body[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                            b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
        assert body == ref.read_bytes()
        assert "attachment" in headers.get("Content-Disposition", "")
    # server_link: the link browsers get may name another address than the one asked.
    configure(app, f"server = {server.base}\nserver_link = https://capme.example:8443/\n")
    _, got = run_command(_python(), app, rows[:1])
    assert got[0]["pcap_url"].startswith("https://capme.example:8443/api/v1/pcap?sip=")
    assert got[0]["pcap_packets"] != ""


def test_local_mode_with_a_server_adds_pcap_url(app, tmp_path, store, server, cli, flows):
    """mode = cli with server set: extracted locally (pcap_path), and the same pcap_url as
    server mode gives."""
    rows = flow_rows(flows)[:3] + bad_rows(flows)[1:2]
    configure(app, f"server = {server.base}\n")
    _, remote = run_command(_python(), app, rows)
    local = local_app(tmp_path, store, cli)
    with open(local / "local" / "capme.conf", "a") as f:
        f.write(f"server = {server.base}\n")
    _, got = run_command(_python(), local, rows)
    assert [g["pcap_url"] for g in got] == [r["pcap_url"] for r in remote]
    assert all(g["pcap_url"] and g["pcap_path"] for g in got[:3])
    assert got[3]["pcap_url"] == "" and got[3]["capme_error"].startswith("no packet matched")


def test_server_mode_transcripts_and_pivots(app, tmp_path, store, server, cli, flows):
    """transcript=true (every style, maxtx with its notice), pad= and url_field= give what
    the local mode gives."""
    configure(app, f"server = {server.base}\n")
    local = local_app(tmp_path, store, cli)
    by_name = {f["name"]: r for r, f in zip(flow_rows(flows), flows)}
    rows = [by_name["tcp-v4"], by_name["udp-dns"], dict(by_name["tcp-v4"], dest_port="81")]
    for args in (["transcript=true"], ["transcript=true", "style=capme", "maxtx=50"],
                 ["transcript=true", "style=json", "maxtx=50"],
                 ["transcript=true", "style=json"]):
        _, got = run_command(_python(), app, rows, args=args)
        _, want = run_command(_python(), local, rows, args=args)
        assert [g["transcript"] for g in got] == [w["transcript"] for w in want], args
        assert [g["capme_error"] for g in got] == [w["capme_error"] for w in want]
        assert got[0]["transcript"] != "" and got[2]["transcript"] == ""
        if args == ["transcript=true"]:
            assert "GET /capme/tcp-v4 HTTP/1.1" in got[0]["transcript"]
    _, got = run_command(_python(), app, rows[:1], args=["transcript=t", "maxtx=50"])
    assert got[0]["transcript"].rstrip().endswith("[transcript truncated at maxtx = 50 bytes: "
                                                  "the flow has more payload than shown]")
    # pad= and a CapMe URL field, as in local mode.
    qinq = dict(by_name["qinq-tcp"], startTime="1718407577.9", endTime="1718407578")
    url = ("https://so.example/capme/index.php?sip=10.10.5.10&spt=52001&dip=10.10.5.20"
           "&dpt=22&stime=1718407577.9&etime=1718407578")
    rows = [qinq, dict(qinq, src="", dest="", url=url)]
    for args in (["url_field=url"], ["url_field=url", "pad=1"]):
        _, got = run_command(_python(), app, rows, args=args)
        _, want = run_command(_python(), local, rows, args=args)
        assert [(g["pcap_packets"], g["capme_error"]) for g in got] == \
            [(w["pcap_packets"], w["capme_error"]) for w in want]
    assert [g["pcap_packets"] for g in got] == ["15", "15"]
    assert "pad=1" in got[0]["pcap_url"]


class FakeSplunkd:
    """Stands in for splunkd's REST API: storage/passwords of the app, for one session key."""

    def __init__(self, session_key, passwords):
        outer = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                path, _, query = self.path.partition("?")
                prefix = "/servicesNS/nobody/capme_app/storage/passwords/"
                if self.headers.get("Authorization") != f"Splunk {session_key}":
                    return self.reply(401, {"messages": [{"text": "call not properly "
                                                                  "authenticated"}]})
                name = urllib.parse.unquote(path[len(prefix):])
                if not path.startswith(prefix) or "output_mode=json" not in query \
                        or name not in passwords:
                    return self.reply(404, {"messages": [{"text": "not found"}]})
                self.reply(200, {"entry": [{"name": name, "content": {
                    "clear_password": passwords[name], "realm": name.split(":")[0]}}]})

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def inspector_errors(chunks):
    meta = chunks[1][0]
    return [m for m in (meta.get("inspector") or {}).get("messages", []) if m[0] == "ERROR"]


def test_auth_with_users_file_and_storage_passwords(app, tmp_path, store, cli, flows):
    users = tmp_path / "users"
    for name, password in (("alice", "s3cret alice"), ("bob", "bob's")):
        r = subprocess.run([cli, "serve", "--users", str(users), "--add-user", name],
                           input=password + "\n", capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    srv = Serve(cli, store, "--users", str(users))
    splunkd = FakeSplunkd("KEY", {"capme:alice:": "s3cret alice", "capme:bob:": "wrong"})
    try:
        rows = flow_rows(flows)[:2]
        info = {"splunkd_uri": splunkd.uri, "session_key": "KEY"}
        # No user: the server answers 401, once per search in Splunk's messages.
        configure(app, f"server = {srv.base}\n")
        chunks, got = run_command(_python(), app, rows, searchinfo=info, errors=True)
        assert all(g["capme_error"].startswith(f"capme server {srv.base}: 401 unauthorized")
                   for g in got), got
        assert len(inspector_errors(chunks)) == 1
        # alice, her password from storage/passwords: the flows.
        configure(app, f"server = {srv.base}\nserver_user = alice\n")
        _, got = run_command(_python(), app, rows, searchinfo=info)
        assert [g["capme_error"] for g in got] == ["", ""]
        assert all(int(g["pcap_packets"]) > 0 for g in got)
        assert splunkd.requests[-1].startswith(
            "/servicesNS/nobody/capme_app/storage/passwords/capme%3Aalice%3A?")
        # The link needs the user's own login (the browser asks for it), not a password in it.
        assert "alice" not in got[0]["pcap_url"]
        with pytest.raises(urllib.error.HTTPError) as e:
            fetch(got[0]["pcap_url"])
        assert e.value.code == 401
        token = base64.b64encode(b"alice:s3cret alice").decode()
        body, _ = fetch(got[0]["pcap_url"], {"Authorization": "Basic " + token})
        assert len(body) > 24
        # bob's stored password is wrong: 401, named.
        configure(app, f"server = {srv.base}\nserver_user = bob\n")
        chunks, got = run_command(_python(), app, rows, searchinfo=info, errors=True)
        assert all("401 unauthorized" in g["capme_error"] for g in got)
        # carol has no stored password; another realm has none either; a bad session key.
        for conf, key, needle in (
                ("server_user = carol\n", "KEY", "server_user 'carol' is set but its password "
                                                 "was not found in storage/passwords"),
                ("server_user = alice\nserver_realm = other\n", "KEY", "realm 'other'"),
                ("server_user = alice\n", "BAD", "HTTP 401")):
            configure(app, f"server = {srv.base}\n{conf}")
            chunks, got = run_command(_python(), app, rows[:1], errors=True,
                                      searchinfo=dict(info, session_key=key))
            assert needle in got[0]["capme_error"], got
            assert got[0]["pcap_packets"] == ""
            assert any(needle in m[1] for m in inspector_errors(chunks)), chunks[1][0]
    finally:
        splunkd.close()
        srv.stop()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_and_bad_settings(app, flows):
    rows = flow_rows(flows)[:3]
    port = _free_port()  # closed again: nothing listens there
    configure(app, f"server = http://127.0.0.1:{port}\nserver_timeout = 20\n")
    chunks, got = run_command(_python(), app, rows, errors=True)
    want = f"capme server http://127.0.0.1:{port} unreachable: "
    assert all(g["capme_error"].startswith(want) for g in got), got
    assert all(g["pcap_url"] == "" and g["pcap_packets"] == "" for g in got)
    assert [g["uid"] for g in got] == [r["uid"] for r in rows]  # the events are kept
    errors = inspector_errors(chunks)
    assert len(errors) == 1 and want in errors[0][1]
    for conf, needle in (
            ("server = ftp://capme.example\n", "server 'ftp://capme.example' is not an http"),
            ("server = https://capme.example:99999\n", "server 'https://capme.example:99999'"),
            ("server = http://127.0.0.1:1\nserver_verify = maybe\n",
             "server_verify must be true or false, not 'maybe'"),
            ("server = http://127.0.0.1:1\nserver_timeout = 0\n", "server_timeout must be a "
                                                                  "positive number"),
            ("server = https://127.0.0.1:1\nserver_ca = /no/such/ca.pem\n",
             "server_ca '/no/such/ca.pem'"),
            ("server = http://127.0.0.1:1\nserver_ca = /etc/hostname\n",
             "is not https"),
            ("mode = server\n", "mode = server but no server"),
            ("server = http://127.0.0.1:1\nmode = remote\n", "not 'remote'")):
        configure(app, conf)
        chunks, got = run_command(_python(), app, rows[:1], errors=True)
        assert needle in got[0]["capme_error"], (conf, got)
        assert any(needle in m[1] for m in inspector_errors(chunks)), chunks[1][0]


def test_https_with_a_private_ca(app, tmp_path, store, cli, flows):
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed for the https test (Debian: openssl)")

    def run(*args):
        r = subprocess.run([openssl, *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr

    # The extensions Python 3.13's strict X.509 checks (Splunk 10.2's Python) want of a CA and
    # a server certificate.
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=capme test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
        "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "ext").write_text("subjectAltName = IP:127.0.0.1\n"
                                  "basicConstraints = CA:FALSE\n"
                                  "keyUsage = critical,digitalSignature\n"
                                  "extendedKeyUsage = serverAuth\n"
                                  "authorityKeyIdentifier = keyid\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    srv = Serve(cli, store, "--insecure-no-auth", "--tls-cert", str(tmp_path / "srv.pem"),
                "--tls-key", str(tmp_path / "srv.key"))
    try:
        assert srv.base.startswith("https://")
        rows = flow_rows(flows)[:2]
        configure(app, f"server = {srv.base}\nserver_ca = {tmp_path / 'ca.pem'}\n")
        _, got = run_command(_python(), app, rows)
        assert [g["capme_error"] for g in got] == ["", ""]
        assert all(int(g["pcap_packets"]) > 0 for g in got)
        # Without the CA the certificate is refused (per event, and once in the messages).
        configure(app, f"server = {srv.base}\n")
        chunks, got = run_command(_python(), app, rows, errors=True)
        assert all("CERTIFICATE_VERIFY_FAILED" in g["capme_error"] for g in got), got
        assert len(inspector_errors(chunks)) == 1
        configure(app, f"server = {srv.base}\nserver_verify = false\n")
        _, got = run_command(_python(), app, rows)
        assert [g["capme_error"] for g in got] == ["", ""]
    finally:
        srv.stop()


def test_scripted_input_in_server_mode(app, tmp_path, store, cli, flows):
    users = tmp_path / "users"
    r = subprocess.run([cli, "serve", "--users", str(users), "--add-user", "input"],
                       input="pw\n", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    srv = Serve(cli, store, "--users", str(users))
    splunkd = FakeSplunkd("SYSKEY", {"capme:input:": "pw"})
    try:
        requests = tmp_path / "requests.jsonl"
        rows = flow_rows(flows)[:2] + [dict(flow_rows(flows)[0], uid="x", dest_port="9")]
        requests.write_text("".join(json.dumps(r) + "\n" for r in rows))
        configure(app, f"server = {srv.base}\nserver_user = input\n[input]\n"
                       f"requests = {requests}\ncheckpoint = {tmp_path / 'cp.json'}\n"
                       f"splunkd_uri = {splunkd.uri}\n")
        r = subprocess.run([_python(), str(app / "bin" / "capme_input.py"), str(app)],
                           input="SYSKEY\n", capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        events = [json.loads(line) for line in r.stdout.splitlines()]
        assert [e["uid"] for e in events] == ["C0", "C1", "x"]
        for e, flow in zip(events[:2], flows):
            assert e["capme_error"] == "" and e["pcap_packets"] == flow["packet_count"]
            assert e["pcap_url"].startswith(srv.base + "/api/v1/pcap?")
        assert events[2]["capme_error"].startswith("no packet matched")
        # A wrong session key: the input stops with the reason on stderr (splunkd's log).
        requests.write_text(requests.read_text() + json.dumps(rows[0]) + "\n")
        r = subprocess.run([_python(), str(app / "bin" / "capme_input.py"), str(app)],
                           input="NOPE\n", capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "HTTP 401" in r.stderr and r.stdout == ""
    finally:
        splunkd.close()
        srv.stop()


# The workflow action: its conf parses, and its link, filled in as Splunk fills it in from an
# event (tokens $field$, URL-encoded; the window from props.conf's calculated fields), opens the
# CapMe page of that event's flow on the running server.

def _conf(name):
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str
    cp.read(APP / "default" / name)
    return cp


def _window(event, props_stanza):
    """capme_stime/capme_etime of props.conf, for the expressions the app ships (checked)."""
    stime = props_stanza["EVAL-capme_stime"]
    etime = props_stanza["EVAL-capme_etime"]
    m1 = re.fullmatch(r"floor\(_time\) - (\d+)", stime)
    m2 = re.fullmatch(r"ceiling\(_time \+ coalesce\(tonumber\(duration\), 0\)\) \+ (\d+)",
                      etime)
    assert m1 and m2 and m1.group(1) == m2.group(1), (stime, etime)
    pad = int(m1.group(1))
    t = float(event["_time"])
    return (math.floor(t) - pad,
            math.ceil(t + float(event.get("duration") or 0)) + pad)


def _fill(uri, event):
    def token(m):
        return urllib.parse.quote(str(event[m.group(1)]), safe="")
    return re.sub(r"\$([^$]+)\$", token, uri)


def test_workflow_action_opens_the_capme_page(server, flows):
    wf = _conf("workflow_actions.conf")
    props = _conf("props.conf")
    assert set(wf.sections()) == {"capme_packets_zeek", "capme_packets_cim",
                                  "capme_packets_cim_ip"}
    assert "bro_conn" in props and "zeek:conn:json" in props
    for name in props.sections():
        assert dict(props[name]) == dict(props["bro_conn"]), name
    flow = next(f for f in flows if f["name"] == "tcp-v4")
    first = flow["first_ts_ns"] / 1e9
    duration = (flow["last_ts_ns"] - flow["first_ts_ns"]) / 1e9
    event = {"_time": f"{first:.6f}", "duration": f"{duration:.6f}",
             "id.orig_h": flow["src_ip"], "id.orig_p": flow["src_port"],
             "id.resp_h": flow["dst_ip"], "id.resp_p": flow["dst_port"],
             "src": flow["src_ip"], "src_port": flow["src_port"], "dest": flow["dst_ip"],
             "dest_port": flow["dst_port"], "src_ip": flow["src_ip"],
             "dest_ip": flow["dst_ip"]}
    event["capme_stime"], event["capme_etime"] = _window(event, props["bro_conn"])
    assert event["capme_stime"] < first and event["capme_etime"] > first + duration
    pages = []
    for name in wf.sections():
        s = wf[name]
        assert s["type"] == "link" and s["label"] == "capme: packets of this connection"
        assert s["link.method"] == "get" and s["display_location"] == "both"
        fields = [f.strip() for f in s["fields"].split(",")]
        tokens = re.findall(r"\$([^$]+)\$", s["link.uri"])
        assert sorted(set(tokens)) == sorted(fields), name  # shown only when all are there
        uri = s["link.uri"]
        assert uri.startswith("https://capme.example:8443/capme/index.php?")
        link = _fill(uri.replace("https://capme.example:8443", server.base), event)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        assert (q["sip"], q["spt"], q["dip"], q["dpt"]) == (
            flow["src_ip"], str(flow["src_port"]), flow["dst_ip"], str(flow["dst_port"]))
        assert (q["stime"], q["etime"]) == (str(event["capme_stime"]),
                                           str(event["capme_etime"]))
        body, headers = fetch(link)
        assert headers.get_content_type() == "text/html"
        pages.append(body.decode())
    assert pages[0] == pages[1] == pages[2]
    page = pages[0]
    assert flow["src_ip"] in page and flow["dst_ip"] in page
    assert "GET /capme/tcp-v4 HTTP/1.1" in page
    assert "/api/v1/pcap?" in page


def test_a_server_that_is_not_capme(app, flows):
    """Answers that are not capme's (a proxy's page, another service) are errors that say so,
    never 0 packets."""
    answers = {"/json": (200, b'{"ok": true}'), "/html": (200, b"<html>login</html>"),
               "/500": (500, b"upstream broke"), "/502": (502, b"")}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            prefix = "/" + self.path.split("/")[1]
            status, body = answers[prefix]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for path, needle in (
                ("/json", "the summary is not capme's (missing packets, bytes, community_id)"),
                ("/html", "summary is not JSON"),
                ("/500", "HTTP 500: upstream broke"),
                ("/502", "HTTP 502: Bad Gateway")):
            configure(app, f"server = {base}{path}\n")
            _, got = run_command(_python(), app, flow_rows(flows)[:1])
            assert got[0]["capme_error"].startswith(f"capme server {base}{path}: "), got
            assert needle in got[0]["capme_error"], got
            assert got[0]["pcap_packets"] == "" and got[0]["pcap_url"] == ""
    finally:
        httpd.shutdown()
        httpd.server_close()
