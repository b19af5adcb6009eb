"""Shared code of the capme Splunk app: configuration and one extraction (and, on request, one
transcript), either through the compiled ``capme`` Python module or, when it cannot be
imported (Splunk 10 deprecates binary modules inside apps) or ``mode = cli``, through the
``capme`` CLI (``capme extract --json``, ``capme transcript``)."""

import base64
import configparser
import json
import os
import shutil
import subprocess
import sys
import warnings

BIN_DIR = os.path.dirname(os.path.abspath(__file__))
APP_DIR = os.path.dirname(BIN_DIR)
LIB_DIR = os.path.join(BIN_DIR, "lib")
if LIB_DIR not in sys.path:
    sys.path.insert(0, LIB_DIR)

# Fields the command and the input add to each row / event.
OUTPUT_FIELDS = ("pcap_path", "pcap_packets", "pcap_bytes", "community_id", "capme_error")


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
        self.requests = inp.get("requests", "").strip()
        self.checkpoint = inp.get("checkpoint", "").strip()


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

    def __init__(self, config, pad=None, whole_flow=False):
        self.config = config
        self.pad = _clean(pad)
        self.whole_flow = bool(whole_flow)
        self.capme = None
        if config.mode not in ("auto", "module", "cli"):
            raise ExtractError(f"capme.conf: mode must be auto, module or cli, not {config.mode!r}")
        if config.mode in ("auto", "module"):
            self.capme = load_module()
            if self.capme is None and config.mode == "module":
                raise ExtractError("capme.conf: mode = module but the capme module does not import")
        self.mode = "module" if self.capme is not None else "cli"
        self._store = None

    def _query(self, req):
        """The request as the keyword arguments of ``Store.search``/``extract``/``transcript``
        (names as the Python API's; values as text)."""
        req = {k: _clean(v) for k, v in req.items()}
        q = {}
        if req.get("url"):
            q["url"] = req["url"]
            for key in ("stime", "etime"):
                if req.get(key):
                    q[key] = req[key]
        elif req.get("zeek_uid"):
            if not self.config.zeek_logs:
                raise ExtractError("capme.conf: no zeek_logs configured (needed for zeek_uid)")
            q["zeek_uid"] = req["zeek_uid"]
            q["zeek_logs"] = self.config.zeek_logs
        elif req.get("community_id"):
            q["community_id"] = req["community_id"]
            q["stime"], q["etime"] = req.get("stime") or "", req.get("etime") or ""
        else:
            # Missing addresses and times are passed as empty text: both paths then report
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
        if transcript is not None:
            try:
                out["transcript"] = self.transcript(req, **transcript)
            except ExtractError as e:
                out["capme_error"] = str(e)
        return out


def request_from(record, fields):
    """The request of an event: ``fields`` maps sip/spt/dip/dpt/stime/etime/community_id/proto
    (and url/zeek_uid) to the event's field names (None: not read)."""
    return {key: record.get(name) for key, name in fields.items() if name}
