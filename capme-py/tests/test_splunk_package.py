"""The Splunk app's packages, as capme-py/splunk/build.sh writes them (test.sh builds both into
CAPME_SPLUNK_DIST): the default package (no compiled code) passes Splunk's AppInspect
(``splunk-appinspect inspect --mode precert``, CAPME_APPINSPECT) with no error, failure or
future failure; its Python stays 3.9-clean; the on-premises x86_64 package carries the
compiled module, which its command uses, unpacked, on an interpreter that has no capme."""

import ast
import configparser
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from splunk_driver import flow_rows, python_without_module, run_command

COMPILED = (".so", ".pyd", ".dll", ".dylib", ".a", ".o")


def _required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the tests through capme-py/scripts/test.sh")
    return value


@pytest.fixture(scope="module")
def dist():
    return Path(_required_env("CAPME_SPLUNK_DIST"))


@pytest.fixture(scope="module")
def default_package(dist):
    path = dist / "capme_app.tgz"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="module")
def local_package(dist):
    path = dist / "capme_app-x86_64.tgz"
    assert path.is_file(), path
    return path


def _unpack(package, into):
    with tarfile.open(package) as t:
        names = t.getnames()
        assert all(n == "capme_app" or n.startswith("capme_app/") for n in names), names
        t.extractall(into)
    return Path(into) / "capme_app"


def _is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def test_default_package_has_no_compiled_code(default_package, tmp_path):
    app = _unpack(default_package, tmp_path)
    files = [p for p in app.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in COMPILED or _is_elf(p)]
    assert not [p for p in app.rglob("*") if p.name in ("__pycache__", "local")]
    assert (app / "bin" / "lib" / "splunklib" / "searchcommands").is_dir()
    assert not (app / "bin" / "lib" / "capme").exists()
    sdk = [p.name for p in (app / "bin" / "lib").glob("splunk_sdk-*.dist-info")]
    assert len(sdk) == 1 and sdk[0].startswith("splunk_sdk-3."), sdk
    for script in ("capme_command.py", "capme_input.py"):
        assert os.access(app / "bin" / script, os.X_OK)


def test_confs(default_package, tmp_path):
    app = _unpack(default_package, tmp_path)

    def conf(name):
        cp = configparser.ConfigParser(interpolation=None, strict=True)
        cp.optionxform = str
        assert cp.read(app / "default" / name), name
        return cp

    assert conf("app.conf")["triggers"]["reload.capme"] == "simple"
    assert conf("app.conf")["id"]["name"] == "capme_app"
    assert conf("commands.conf")["capme"]["python.required"] == "3.13"
    inputs = conf("inputs.conf")
    for name in inputs.sections():
        assert inputs[name]["python.required"] == "3.13", name
    capme = conf("capme.conf")["capme"]
    for key in ("server", "server_link", "server_user", "server_realm", "server_ca",
                "server_verify", "server_timeout", "mode"):
        assert key in capme, key


def test_python_is_39_clean(default_package, tmp_path):
    """Splunk 9.x runs the app on Python 3.9: no newer syntax in it or in vendored splunklib."""
    app = _unpack(default_package, tmp_path)
    sources = list(app.rglob("*.py"))
    assert len(sources) > 10
    for path in sources:
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 9))


def _appinspect(package, out):
    exe = _required_env("CAPME_APPINSPECT")
    r = subprocess.run([exe, "inspect", str(package), "--mode", "precert", "--output-file",
                        str(out), "--data-format", "json"], capture_output=True, text=True)
    assert out.is_file(), r.stdout + r.stderr
    report = json.loads(out.read_text())
    bad = []
    for rep in report["reports"]:
        for group in rep["groups"]:
            for check in group["checks"]:
                if check["result"] in ("error", "failure", "future_failure"):
                    bad.append((check["result"], check["name"],
                                [m.get("message") for m in check["messages"]]))
    return report, bad


def test_appinspect_default_package(default_package, tmp_path):
    report, bad = _appinspect(default_package, tmp_path / "appinspect.json")
    assert bad == [], json.dumps(bad, indent=1)
    summary = report["summary"]
    assert summary["failure"] == summary["error"] == summary["future_failure"] == 0, summary
    assert summary["success"] > 50, summary  # it really inspected the app


def test_appinspect_flags_the_module_package(local_package, tmp_path):
    """The x86_64-only module is what AppInspect fails (so the check above can fail): the
    reason the default package has none."""
    _, bad = _appinspect(local_package, tmp_path / "appinspect.json")
    assert [(result, name) for result, name, _ in bad] == [
        ("failure", "check_aarch64_compatibility")], bad
    assert "bin/lib/capme/_capme.abi3.so" in json.dumps(bad)


def test_local_package_module_mode(local_package, tmp_path, sample_store, flows, cli):
    """The on-premises package, unpacked: its vendored compiled module runs the command on an
    interpreter without capme (mode = module), with the local mode's results."""
    from test_splunk import BAD_ROWS, _bad_rows, _check_rows  # (they need the capme wheel)

    app = _unpack(local_package, tmp_path / "pkg")
    so = list((app / "bin" / "lib" / "capme").glob("_capme*.so"))
    assert len(so) == 1 and _is_elf(so[0]), so
    store = tmp_path / "store"
    shutil.copytree(sample_store, store)
    archive = tmp_path / "archive"
    (app / "local").mkdir()
    (app / "local" / "capme.conf").write_text(
        f"[capme]\nstore = {store}\narchive = {archive}\nmode = module\n"
        f"capme_cli = {tmp_path / 'no-such-capme'}\n")
    rows = flow_rows(flows)
    bad, cid_row = _bad_rows(flows)
    python = python_without_module()
    _, got = run_command(python, app, rows + bad + [cid_row])
    _check_rows(rows, got[:len(rows)], flows, str(store), tmp_path, archive)
    for out, (_, message) in zip(got[len(rows):], BAD_ROWS):
        assert out["capme_error"] == message
    assert got[-1]["capme_error"] == "" and int(got[-1]["pcap_packets"]) == 15
    # The module really came from the package: without it, mode = module refuses.
    shutil.rmtree(app / "bin" / "lib" / "capme")
    _, got = run_command(python, app, rows[:1], errors=True)
    assert "mode = module but the capme module does not import" in got[0]["capme_error"]
