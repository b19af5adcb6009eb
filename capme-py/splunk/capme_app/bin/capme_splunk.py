"""Shared code of the capme Splunk app: configuration and one extraction, either through the
compiled ``capme`` Python module or, when it cannot be imported (Splunk 10 deprecates binary
modules inside apps) or ``mode = cli``, through the ``capme`` CLI with ``--json``."""

import configparser
import json
import os
import shutil
import subprocess
import sys

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


class Extractor:
    """Extracts flows into the configured archive through the module or the CLI."""

    def __init__(self, config):
        self.config = config
        self.capme = None
        if config.mode not in ("auto", "module", "cli"):
            raise ExtractError(f"capme.conf: mode must be auto, module or cli, not {config.mode!r}")
        if config.mode in ("auto", "module"):
            self.capme = load_module()
            if self.capme is None and config.mode == "module":
                raise ExtractError("capme.conf: mode = module but the capme module does not import")
        self.mode = "module" if self.capme is not None else "cli"
        self._store = None

    def extract(self, req, force=False):
        """``req``: dict with sip, spt, dip, dpt, proto, community_id, stime, etime (strings or
        None). Returns the summary dict (the CLI's ``--json`` object)."""
        req = {k: _clean(v) for k, v in req.items()}
        # Missing addresses and times are passed as empty text: both paths then report
        # capme-core's own message (e.g. 'invalid sip "": not an IPv4 or IPv6 address').
        for key in ("sip", "dip", "stime", "etime"):
            req[key] = req.get(key) or ""
        if not self.config.stores:
            raise ExtractError("capme.conf: no store configured")
        if not self.config.archive:
            raise ExtractError("capme.conf: no archive configured")
        if self.mode == "module":
            return self._extract_module(req, force)
        return self._extract_cli(req, force)

    def _extract_module(self, req, force):
        capme = self.capme
        try:
            if self._store is None:
                self._store = capme.Store(self.config.stores)
            if req.get("community_id"):
                s = self._store.extract(community_id=req["community_id"], stime=req["stime"],
                                        etime=req["etime"], archive=self.config.archive,
                                        force=force)
            else:
                s = self._store.extract(req["sip"], req.get("spt"), req["dip"],
                                        req.get("dpt"), req["stime"], req["etime"],
                                        proto=req.get("proto"), archive=self.config.archive,
                                        force=force)
        except (capme.CapmeError, TypeError) as e:
            raise ExtractError(str(e)) from None
        return s.as_dict()

    def cli_path(self):
        path = self.config.cli or shutil.which("capme")
        if not path:
            raise ExtractError("the capme module does not import and no capme CLI was found "
                               "(set capme_cli in capme.conf)")
        return path

    def _extract_cli(self, req, force):
        argv = [self.cli_path(), "extract"]
        for s in self.config.stores:
            argv += ["--store", s]
        if req.get("community_id"):
            argv.append("--community-id=" + req["community_id"])
        else:
            for opt, key in (("--sip", "sip"), ("--spt", "spt"), ("--dip", "dip"),
                             ("--dpt", "dpt"), ("--proto", "proto")):
                if req.get(key) is not None and (req[key] != "" or key in ("sip", "dip")):
                    argv.append(f"{opt}={req[key]}")
        for opt, key in (("--stime", "stime"), ("--etime", "etime")):
            argv.append(f"{opt}={req[key]}")
        argv += ["--archive", self.config.archive, "--json"]
        if force:
            argv.append("--force")
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
        return json.loads(r.stdout)

    def run(self, req, force=False):
        """The output fields for one request: the archive on success, ``capme_error`` on
        failure (never raises)."""
        out = dict.fromkeys(OUTPUT_FIELDS, "")
        out["community_id"] = _clean(req.get("community_id")) or ""
        try:
            s = self.extract(req, force)
        except ExtractError as e:
            out["capme_error"] = str(e)
            return out
        out.update(pcap_path=s.get("output") or "", pcap_packets=s.get("packets", 0),
                   pcap_bytes=s.get("bytes", 0), community_id=s.get("community_id") or "")
        return out


def request_from(record, fields):
    """The request of an event: ``fields`` maps sip/spt/dip/dpt/stime/etime/community_id/proto
    to the event's field names."""
    return {key: record.get(name) for key, name in fields.items() if name}
