"""Shared fixtures: the sample store and its manifest, the capme CLI, a large store."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_STORE = REPO / "examples" / "data" / "store"
MANIFEST = REPO / "examples" / "data" / "manifest.json"


def _required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the tests through capme-py/scripts/test.sh")
    return value


@pytest.fixture(scope="session")
def sample_store():
    return str(SAMPLE_STORE)


@pytest.fixture(scope="session")
def manifest():
    with open(MANIFEST) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def flows(manifest):
    """Named flows of the sample store, with the sensor-shared 5-tuples merged."""
    return manifest["flows"]


@pytest.fixture(scope="session")
def cli():
    """Path of the capme CLI binary (built by test.sh)."""
    path = _required_env("CAPME_CLI")
    assert os.access(path, os.X_OK), path
    return path


def run_cli(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True)


@pytest.fixture(scope="session")
def big_store(tmp_path_factory):
    """A store large enough that one search takes about half a second: the generated store of
    CAPME_BIG_STORE (about 180 MB), hard-linked under many sensor names (no extra disk). 40
    copies: a whole-store search reads 7 GB of page cache (about 0.6 s on 2 cores)."""
    src = Path(_required_env("CAPME_BIG_STORE"))
    copies = int(os.environ.get("CAPME_BIG_COPIES", "40"))
    root = tmp_path_factory.mktemp("multi")
    sensors = sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert sensors, f"no sensors in {src}"
    for i in range(copies):
        for s in sensors:
            shutil.copytree(s, root / f"{s.name}-{i}", copy_function=os.link)
    return str(root)
