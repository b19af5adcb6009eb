#!/usr/bin/env python
"""Scripted input example: for each new line of the requests file (capme.conf ``[input]
requests``; one JSON object per line with the command's default field names ``src``,
``src_port``, ``dest``, ``dest_port``, ``startTime``, ``endTime``, optional ``community_id``,
``proto``, ``uid``) it extracts the connection into the archive and prints ONE event (a JSON
object on one line) per extracted archive, not one per packet.

Its checkpoint (the requests file's identity and the byte offset of the first unprocessed
line) is written after each request, atomically: to a temporary file in the same directory,
flushed and fsynced, then renamed over the old one with ``os.replace``. A partial last line
(still being written) is left for the next run. Usage: ``capme_input.py [APP_DIR]``.

With ``server`` in capme.conf the requests are looked up on that capme server and each event
also carries ``pcap_url``; with ``server_user`` the password is read from storage/passwords
with the session key splunkd writes on stdin (inputs.conf ``passAuth``).
"""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import capme_splunk  # noqa: E402

FIELDS = {"sip": "src", "spt": "src_port", "dip": "dest", "dpt": "dest_port",
          "stime": "startTime", "etime": "endTime", "community_id": "community_id",
          "proto": "proto"}


def checkpoint_path(config):
    if config.checkpoint:
        return config.checkpoint
    home = os.environ.get("SPLUNK_HOME")
    if home:
        return os.path.join(home, "var", "lib", "splunk", "modinputs", "capme", "checkpoint.json")
    return config.requests + ".checkpoint.json"


def read_checkpoint(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_checkpoint(path, state):
    """Writes ``state`` as JSON to ``path`` atomically (temp file + fsync + os.replace)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".capme-checkpoint.", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main(argv):
    try:
        config = capme_splunk.Config(argv[1]) if len(argv) > 1 else capme_splunk.Config()
    except capme_splunk.ExtractError as e:
        print(f"capme_input: {e}", file=sys.stderr)
        return 1
    if not config.requests:
        print("capme_input: no [input] requests file configured", file=sys.stderr)
        return 1
    try:
        st = os.stat(config.requests)
    except FileNotFoundError:
        return 0
    cp_path = checkpoint_path(config)
    state = read_checkpoint(cp_path)
    ident = [st.st_dev, st.st_ino]
    offset = state.get("offset", 0) if state.get("file") == ident else 0
    if offset > st.st_size:  # truncated: start again
        offset = 0
    try:
        password = None
        if config.server and config.server_user:
            # inputs.conf passAuth: splunkd writes a session key on stdin.
            session_key = sys.stdin.readline().strip()
            password = capme_splunk.server_password(config, config.splunkd_uri, session_key)
        extractor = capme_splunk.Extractor(config, password=password)
    except capme_splunk.ExtractError as e:
        print(f"capme_input: {e}", file=sys.stderr)
        return 1
    with open(config.requests, "rb") as f:
        f.seek(offset)
        while True:
            line = f.readline()
            if not line.endswith(b"\n"):
                break  # end of file, or a line still being written
            offset += len(line)
            text = line.decode("utf-8", "replace").strip()
            if text:
                try:
                    record = json.loads(text)
                    if not isinstance(record, dict):
                        raise ValueError("not a JSON object")
                except ValueError as e:
                    record, out = {}, dict.fromkeys(capme_splunk.OUTPUT_FIELDS, "")
                    out["capme_error"] = f"bad request line: {e}"
                else:
                    out = extractor.run(capme_splunk.request_from(record, FIELDS))
                event = {"time": time.time()}
                for key in ("uid", "src", "src_port", "dest", "dest_port", "startTime",
                            "endTime", "proto"):
                    if key in record:
                        event[key] = record[key]
                event.update(out)
                sys.stdout.write(json.dumps(event) + "\n")
                sys.stdout.flush()
            write_checkpoint(cp_path, {"file": ident, "offset": offset})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
