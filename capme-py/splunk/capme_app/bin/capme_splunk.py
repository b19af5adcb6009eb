"""Shared code of the capme Splunk app: configuration and one extraction (and, on request, one
transcript), in one of three ways:

- ``server`` (the default when capme.conf sets ``server = URL``): a ``capme serve`` answers
  (``/api/v1/summary``, ``/api/v1/transcript``) over HTTP(S), with the Python standard library
  only (urllib, ssl, json): no compiled code and no store on the search head;
- ``module``: the compiled ``capme`` Python module (the on-premises x86_64 package);
- ``cli``: the ``capme`` CLI (``capme extract --json``, ``capme transcript``), when the module
  cannot be imported (Splunk 10 deprecates binary modules inside apps) or ``mode = cli``.

With ``server`` set, every mode adds ``pcap_url``: the server's ``/api/v1/pcap`` link for the
event's flow and window, which a browser can download.

The code stays Python 3.9-clean (Splunk 9.x runs 3.9; the app declares 3.13 for Splunk 10.2+).
"""

import base64
import configparser
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings

BIN_DIR = os.path.dirname(os.path.abspath(__file__))
APP_DIR = os.path.dirname(BIN_DIR)
LIB_DIR = os.path.join(BIN_DIR, "lib")
if LIB_DIR not in sys.path:
    sys.path.insert(0, LIB_DIR)

# Fields the command and the input add to each row / event.
OUTPUT_FIELDS = ("pcap_path", "pcap_packets", "pcap_bytes", "community_id", "pcap_url",
                 "capme_error")

# The storage/passwords realm of the server password (name = server_user).
DEFAULT_REALM = "capme"


class Config:
    """The [capme] and [input] stanzas of default/capme.conf overlaid with local/capme.conf."""

    def __init__(self, app_dir=APP_DIR):
        cp = configparser.ConfigParser(interpolation=None)
        cp.read([os.path.join(app_dir, d, "capme.conf") for d in ("default", "local")])
        main = cp["capme"] if cp.has_section("capme") else {}
        inp = cp["input"] if cp.has_section("input") else {}
        self.stores = [s.strip() for s in main.get("store", "").split(",") if s.strip()]
        self.archive = main.get("archive", "").strip()
        self.mode = main.get("mode", "auto").strip().lower() or "auto"
        self.cli = main.get("capme_cli", "").strip()
        self.cli_timeout = float(main.get("cli_timeout", "300") or 300)
        self.zeek_logs = main.get("zeek_logs", "").strip()
        self.server = main.get("server", "").strip()
        self.server_link = main.get("server_link", "").strip()
        self.server_user = main.get("server_user", "").strip()
        self.server_realm = main.get("server_realm", "").strip() or DEFAULT_REALM
        self.server_ca = main.get("server_ca", "").strip()
        self.server_verify = _bool("server_verify", main.get("server_verify", "true"))
        self.server_timeout = _number("server_timeout", main.get("server_timeout", "60"))
        self.requests = inp.get("requests", "").strip()
        self.checkpoint = inp.get("checkpoint", "").strip()
        self.splunkd_uri = inp.get("splunkd_uri", "").strip() or "https://127.0.0.1:8089"


def _bool(key, text):
    v = (text or "").strip().lower()
    if v in ("1", "true", "yes", "t", "y", "on"):
        return True
    if v in ("0", "false", "no", "f", "n", "off"):
        return False
    raise ExtractError(f"capme.conf: {key} must be true or false, not {text!r}")


def _number(key, text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        v = float("nan")
    if not v > 0:
        raise ExtractError(f"capme.conf: {key} must be a positive number of seconds, not {text!r}")
    return v


def load_module():
    """The ``capme`` package when its compiled module imports, else None."""
    try:
        import capme  # noqa: F401
        from capme import _capme  # noqa: F401
    except ImportError:
        return None
    return capme


class ExtractError(Exception):
    """An extraction failed; the message is capme's (the CLI's stderr without ``capme: ``)."""


def _clean(v):
    if v is None:
        return None
    if isinstance(v, list):  # a multivalue field: take the first value
        v = v[0] if v else None
        if v is None:
            return None
    v = str(v).strip()
    return v or None


# The bracketed notice the text styles of a transcript end with when maxtx was reached (the
# CLI prints it on stderr for --style json; the command appends it to every style).
TRUNCATED_NOTICE = "[transcript truncated at maxtx = {} bytes: the flow has more payload than shown]"


def _segments_text(segments):
    """A json transcript's segments as the JSON lines ``capme transcript --style json`` prints
    (the keys direction, ts, offset, payload in base64, in that order)."""
    lines = []
    for seg in segments:
        lines.append(json.dumps({"direction": seg.direction, "ts": seg.ts, "offset": seg.offset,
                                 "payload": base64.b64encode(seg.payload).decode("ascii")},
                                separators=(",", ":")) + "\n")
    return "".join(lines)


class Extractor:
    """Extracts flows into the configured archive (and makes transcripts) through the module or
    the CLI.

    A request is a dict with sip, spt, dip, dpt, proto, community_id, url, zeek_uid, stime and
    etime (strings or None). Its flow is, in this order of precedence, the ``url`` (a CapMe or
    SOC URL; stime/etime, when given, replace its window), the ``zeek_uid`` (looked up in
    ``zeek_logs`` of capme.conf; its record gives the window), the ``community_id``, or the
    5-tuple. ``pad`` (seconds) and ``whole_flow`` are the CLI's ``--pad`` and
    ``--whole-flow``."""

    def __init__(self, config, pad=None, whole_flow=False, password=None):
        self.config = config
        self.pad = _clean(pad)
        self.whole_flow = bool(whole_flow)
        self.capme = None
        if config.mode not in ("auto", "module", "cli", "server"):
            raise ExtractError(
                f"capme.conf: mode must be auto, server, module or cli, not {config.mode!r}")
        if config.mode == "server" and not config.server:
            raise ExtractError("capme.conf: mode = server but no server (URL) is configured")
        # The server (for the search with mode server, for pcap_url in every mode).
        self.server = Server(config, password) if config.server else None
        if config.mode == "server" or (config.mode == "auto" and self.server is not None):
            self.mode = "server"
            return
        if config.mode in ("auto", "module"):
            self.capme = load_module()
            if self.capme is None and config.mode == "module":
                raise ExtractError("capme.conf: mode = module but the capme module does not import")
        self.mode = "module" if self.capme is not None else "cli"
        self._store = None

    def _query(self, req, remote=False):
        """The request as the keyword arguments of ``Store.search``/``extract``/``transcript``
        (names as the Python API's; values as text). ``remote``: for the server, which looks
        a Zeek uid up in its own ``--zeek-logs``."""
        req = {k: _clean(v) for k, v in req.items()}
        q = {}
        if req.get("url"):
            q["url"] = req["url"]
            for key in ("stime", "etime"):
                if req.get(key):
                    q[key] = req[key]
        elif req.get("zeek_uid"):
            q["zeek_uid"] = req["zeek_uid"]
            if not remote:
                if not self.config.zeek_logs:
                    raise ExtractError("capme.conf: no zeek_logs configured (needed for zeek_uid)")
                q["zeek_logs"] = self.config.zeek_logs
        elif req.get("community_id"):
            q["community_id"] = req["community_id"]
            q["stime"], q["etime"] = req.get("stime") or "", req.get("etime") or ""
        else:
            # Missing addresses and times are passed as empty text: every path then reports
            # capme-core's own message (e.g. 'invalid sip "": not an IPv4 or IPv6 address').
            for key in ("sip", "spt", "dip", "dpt", "proto", "stime", "etime"):
                v = req.get(key)
                if v is not None or key in ("sip", "dip", "stime", "etime"):
                    q[key] = v or ""
        if self.pad is not None:
            q["pad"] = self.pad
        if self.whole_flow:
            q["whole_flow"] = True
        return q

    def _query_argv(self, q):
        """The same query as the CLI's options."""
        argv = []
        for key, value in q.items():
            if key == "whole_flow":
                argv.append("--whole-flow")
            elif key == "zeek_logs":
                argv += ["--zeek-logs", value]
            else:
                argv.append(f"--{key.replace('_', '-')}={value}")
        return argv

    def _check_config(self):
        if not self.config.stores:
            raise ExtractError("capme.conf: no store configured")

    def _module_store(self):
        if self._store is None:
            self._store = self.capme.Store(self.config.stores)
        return self._store

    def extract(self, req, force=False):
        """Extracts the request's flow into the archive; returns the summary dict (the CLI's
        ``--json`` object)."""
        if self.mode == "server":
            return self.server.summary(self._query(req, remote=True))
        q = self._query(req)
        self._check_config()
        if not self.config.archive:
            raise ExtractError("capme.conf: no archive configured")
        if self.mode == "module":
            capme = self.capme
            try:
                s = self._module_store().extract(**q, archive=self.config.archive, force=force)
            except (capme.CapmeError, TypeError) as e:
                raise ExtractError(str(e)) from None
            return s.as_dict()
        argv = [self.cli_path(), "extract"]
        for st in self.config.stores:
            argv += ["--store", st]
        argv += self._query_argv(q) + ["--archive", self.config.archive, "--json"]
        if force:
            argv.append("--force")
        return json.loads(self._run_cli(argv).stdout)

    def transcript(self, req, style="plain", maxtx=500000):
        """The transcript of the request's flow as text: ``plain`` or ``capme`` as the CLI
        prints them, ``json`` as its JSON lines; at most ``maxtx`` payload bytes, and then
        ending with the notice (for json too)."""
        if self.mode == "server":
            return self.server.transcript(self._query(req, remote=True), style, int(maxtx))
        q = self._query(req)
        self._check_config()
        if self.mode == "module":
            capme = self.capme
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the search's warnings: not the field's
                    t = self._module_store().transcript(**q, style=style, maxtx=int(maxtx))
            except (capme.CapmeError, TypeError, ValueError) as e:
                raise ExtractError(str(e)) from None
            if style != "json":
                return t
            text = _segments_text(t)
            if t.truncated:
                text += TRUNCATED_NOTICE.format(t.maxtx) + "\n"
            return text
        argv = [self.cli_path(), "transcript"]
        for st in self.config.stores:
            argv += ["--store", st]
        argv += self._query_argv(q) + [f"--style={style}", f"--maxtx={maxtx}"]
        r = self._run_cli(argv)
        text = r.stdout
        if style == "json" and "transcript truncated at maxtx" in r.stderr:
            text += TRUNCATED_NOTICE.format(maxtx) + "\n"
        return text

    def cli_path(self):
        path = self.config.cli or shutil.which("capme")
        if not path:
            raise ExtractError("the capme module does not import and no capme CLI was found "
                               "(set capme_cli in capme.conf)")
        return path

    def _run_cli(self, argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=self.config.cli_timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ExtractError(f"running {argv[0]}: {e}") from None
        if r.returncode != 0:
            lines = [ln for ln in r.stderr.splitlines()
                     if ln.strip() and not ln.startswith("capme: warning:")]
            msg = lines[-1] if lines else f"capme exited with status {r.returncode}"
            raise ExtractError(msg[len("capme: "):] if msg.startswith("capme: ") else msg)
        return r

    def run(self, req, force=False, transcript=None):
        """The output fields for one request: the archive on success, ``capme_error`` on
        failure (never raises). ``transcript``: None, or a dict with ``style`` and ``maxtx``:
        the ``transcript`` field is added too (empty when the extraction failed)."""
        out = dict.fromkeys(OUTPUT_FIELDS, "")
        if transcript is not None:
            out["transcript"] = ""
        out["community_id"] = _clean(req.get("community_id")) or ""
        try:
            s = self.extract(req, force)
        except ExtractError as e:
            out["capme_error"] = str(e)
            return out
        out.update(pcap_path=s.get("output") or "", pcap_packets=s.get("packets", 0),
                   pcap_bytes=s.get("bytes", 0), community_id=s.get("community_id") or "")
        if self.server is not None:
            out["pcap_url"] = self.server.pcap_url(self._query(req, remote=True))
        if transcript is not None:
            try:
                out["transcript"] = self.transcript(req, **transcript)
            except ExtractError as e:
                out["capme_error"] = str(e)
        return out


class Server:
    """A ``capme serve`` (capme.conf ``server``), asked over HTTP(S) with the standard library.

    ``password``: the ``server_user``'s password (from Splunk's storage/passwords), or None.
    After the first failure to reach the server (refused, timed out, TLS) or to be let in (401,
    403), ``down`` holds the error and every later request gets it at once instead of trying
    again (a search of many events would otherwise wait ``server_timeout`` per event)."""

    def __init__(self, config, password=None):
        self.base = _base_url("server", config.server)
        self.link = _base_url("server_link", config.server_link) if config.server_link \
            else self.base
        self.timeout = config.server_timeout
        self.headers = {"User-Agent": "capme-splunk", "Accept": "application/json"}
        if config.server_user:
            if password is None:
                raise ExtractError(
                    f"capme.conf: server_user {config.server_user!r} is set but its password "
                    f"was not found in storage/passwords (realm {config.server_realm!r})")
            token = base64.b64encode(f"{config.server_user}:{password}".encode()).decode()
            self.headers["Authorization"] = "Basic " + token
        self.context = None
        if self.base.startswith("https:"):
            try:
                self.context = ssl.create_default_context(cafile=config.server_ca or None)
            except (OSError, ssl.SSLError) as e:
                raise ExtractError(f"capme.conf: server_ca {config.server_ca!r}: {e}") from None
            if not config.server_verify:
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
        elif config.server_ca:
            raise ExtractError(f"capme.conf: server_ca {config.server_ca!r} is set but server "
                               f"{self.base!r} is not https")
        self.down = None

    @staticmethod
    def params(q):
        """The query as the server's parameters (named as the CLI's flags)."""
        return [(k, "true" if v is True else str(v)) for k, v in q.items()]

    def url(self, path, q, extra=(), base=None):
        return (base or self.base) + path + "?" + urllib.parse.urlencode(
            self.params(q) + list(extra))

    def pcap_url(self, q):
        """The browser's link to the capture of the query (``server_link``, else ``server``)."""
        return self.url("/api/v1/pcap", q, base=self.link)

    def get(self, path, q, extra=()):
        """(body, headers) of a GET; ExtractError with the server's message on failure."""
        if self.down is not None:
            raise ExtractError(self.down)
        url = self.url(path, q, extra)
        req = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as r:
                return r.read(), r.headers
        except urllib.error.HTTPError as e:
            message = self._http_error(e)
            if e.code in (401, 403):  # the same for every request: a configuration error
                self.down = message
            raise ExtractError(message) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            self.down = f"capme server {self.base} unreachable: {reason}"
            raise ExtractError(self.down) from None

    def _http_error(self, e):
        try:
            body = e.read()
        except OSError:
            body = b""
        message = None
        try:
            message = json.loads(body.decode("utf-8")).get("error")
        except (ValueError, AttributeError, UnicodeDecodeError):
            pass
        if e.code in (400, 404, 413) and message:
            return message  # the CLI's own message (invalid query, no packets, over a limit)
        if e.code == 401:
            return (f"capme server {self.base}: 401 unauthorized (check server_user in "
                    f"capme.conf and its password in storage/passwords)"
                    + (f": {message}" if message else ""))
        detail = message or body.decode("utf-8", "replace").strip()[:200] or e.reason
        return f"capme server {self.base}: HTTP {e.code}: {detail}"

    def summary(self, q):
        body, _ = self.get("/api/v1/summary", q)
        try:
            s = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise ExtractError(f"capme server {self.base}: summary is not JSON: {e}") from None
        missing = [k for k in ("packets", "bytes", "community_id") if k not in s] \
            if isinstance(s, dict) else None
        if missing is None or missing:
            # Not a capme server's summary (e.g. a proxy's page): say so, never report 0.
            raise ExtractError(f"capme server {self.base}: the summary is not capme's "
                               f"(missing {', '.join(missing or ['a JSON object'])})")
        return s

    def transcript(self, q, style, maxtx):
        body, headers = self.get("/api/v1/transcript", q,
                                 [("style", style), ("maxtx", str(maxtx))])
        text = body.decode("utf-8", "replace")
        if style == "json" and (headers.get("X-Capme-Truncated") or "") == "true":
            text += TRUNCATED_NOTICE.format(maxtx) + "\n"
        return text


def _base_url(key, value):
    """``value`` as a base URL (http or https, a host, no query), without a trailing slash."""
    try:
        u = urllib.parse.urlsplit(value)
        u.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as e:
        raise ExtractError(f"capme.conf: {key} {value!r}: {e}") from None
    if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment:
        raise ExtractError(f"capme.conf: {key} {value!r} is not an http:// or https:// URL "
                           f"(e.g. https://capme.example:8443)")
    return value.rstrip("/")


def storage_password(splunkd_uri, session_key, realm, user, app=None, timeout=30):
    """The clear password of ``realm:user`` in Splunk's storage/passwords (the app's
    namespace), read through splunkd's REST API with the search's session key; None when
    there is none. splunkd's own certificate is not verified (as splunklib does)."""
    app = app or os.path.basename(APP_DIR)
    name = urllib.parse.quote(f"{realm}:{user}:", safe="")
    url = (f"{splunkd_uri.rstrip('/')}/servicesNS/nobody/{urllib.parse.quote(app)}"
           f"/storage/passwords/{name}?output_mode=json")
    req = urllib.request.Request(url, headers={"Authorization": f"Splunk {session_key}"})
    context = ssl._create_unverified_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            data = json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise ExtractError(f"reading the server password from splunkd storage/passwords "
                           f"({realm}:{user}): HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ExtractError(f"reading the server password from splunkd {splunkd_uri}: "
                           f"{getattr(e, 'reason', None) or e}") from None
    for entry in data.get("entry") or []:
        content = entry.get("content") or {}
        if "clear_password" in content:
            return content["clear_password"]
    return None


def server_password(config, splunkd_uri, session_key):
    """The server password of ``config.server_user`` (None when no user is configured)."""
    if not (config.server and config.server_user):
        return None
    if not session_key:
        raise ExtractError("capme.conf: server_user is set but Splunk passed no session key "
                           "to read its password from storage/passwords")
    return storage_password(splunkd_uri, session_key, config.server_realm, config.server_user)


def request_from(record, fields):
    """The request of an event: ``fields`` maps sip/spt/dip/dpt/stime/etime/community_id/proto
    (and url/zeek_uid) to the event's field names (None: not read)."""
    return {key: record.get(name) for key, name in fields.items() if name}
