"""The CLI's tunnel and compression options (issue 15) in Python: ``layer=`` on search, extract
and transcript, ``decapsulate=`` and ``compress=`` on extract, against the capme CLI's output on
the generator's tunnel store (gen-tunnels, built by test.sh)."""

import gzip
import json
import os
import subprocess

import pytest

import capme
from conftest import _required_env, run_cli

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LZ4_MAGIC = b"\x04\x22\x4d\x18"


@pytest.fixture(scope="module")
def tunnels(tmp_path_factory):
    """The tunnel store and the case whose inner flow is seen both plain and tunnelled."""
    gen = _required_env("CAPME_GEN_TUNNELS")
    root = tmp_path_factory.mktemp("tunnels") / "store"
    out = subprocess.run([gen, str(root)], capture_output=True, text=True, check=True)
    cases = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    case = next(c for c in cases if c["name"] == "vxlan")
    assert case["plain"] > 0 and case["tunnelled"] > 0, case
    return str(root), case


def kwargs_of(case):
    ca, cp, sa, sp = case["inner"]
    return dict(sip=ca, spt=cp, dip=sa, dpt=sp, proto="tcp", stime=case["stime"], etime=case["etime"])


def cli_args_of(case):
    ca, cp, sa, sp = case["inner"]
    return ["--sip", ca, "--spt", str(cp), "--dip", sa, "--dpt", str(sp), "--proto", "tcp",
            "--stime", str(case["stime"]), "--etime", str(case["etime"])]


def cli_extract(cli, root, case, out, *extra):
    r = run_cli(cli, "extract", "--store", root, "-o", str(out), "--json", "--force",
                *cli_args_of(case), *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), out.read_bytes()


@pytest.mark.parametrize("layer", ["any", "outer", "inner"])
def test_layer_is_the_clis(tunnels, cli, tmp_path, layer):
    root, case = tunnels
    store = capme.Store(root)
    want_sum, want = cli_extract(cli, root, case, tmp_path / "cli.pcap", "--layer", layer)
    expect = {"any": case["plain"] + case["tunnelled"], "outer": case["plain"],
              "inner": case["tunnelled"]}[layer]
    assert want_sum["packets"] == expect

    s = store.extract(**kwargs_of(case), layer=layer, out=str(tmp_path / "py.pcap"))
    assert (tmp_path / "py.pcap").read_bytes() == want
    assert s.packets == want_sum["packets"]
    assert s.encapsulated == want_sum["encapsulated"]

    assert len(list(store.search(**kwargs_of(case), layer=layer))) == expect

    t = run_cli(cli, "transcript", "--store", root, "--style", "capme", "--layer", layer,
                *cli_args_of(case))
    assert t.returncode == 0, t.stderr
    assert store.transcript(**kwargs_of(case), layer=layer, style="capme") == t.stdout


def test_layer_default_is_any(tunnels, tmp_path):
    root, case = tunnels
    store = capme.Store(root)
    store.extract(**kwargs_of(case), out=str(tmp_path / "a.pcap"))
    store.extract(**kwargs_of(case), layer="ANY", out=str(tmp_path / "b.pcap"))
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()


def test_decapsulate_is_the_clis(tunnels, cli, tmp_path):
    root, case = tunnels
    store = capme.Store(root)
    _, want = cli_extract(cli, root, case, tmp_path / "cli.pcap", "--decapsulate")
    _, plain = cli_extract(cli, root, case, tmp_path / "plain.pcap")
    assert want != plain
    store.extract(**kwargs_of(case), decapsulate=True, out=str(tmp_path / "py.pcap"))
    assert (tmp_path / "py.pcap").read_bytes() == want
    store.extract(**kwargs_of(case), decapsulate=False, out=str(tmp_path / "no.pcap"))
    assert (tmp_path / "no.pcap").read_bytes() == plain
    with pytest.raises(ValueError, match="decapsulate"):
        store.extract(**kwargs_of(case), decapsulate=True, archive=str(tmp_path / "arch"))


def test_bad_layer_and_compress_name_the_argument(tunnels, tmp_path):
    root, case = tunnels
    store = capme.Store(root)
    for call in (
        lambda: store.search(**kwargs_of(case), layer="middle"),
        lambda: store.extract(**kwargs_of(case), layer="middle", out=str(tmp_path / "x.pcap")),
        lambda: store.transcript(**kwargs_of(case), layer="middle"),
    ):
        with pytest.raises(capme.InvalidQuery, match="layer.*middle|middle.*layer"):
            call()
    with pytest.raises(TypeError, match="layer"):
        store.search(**kwargs_of(case), layer=1)
    with pytest.raises(capme.InvalidQuery, match="compress.*bzip2|bzip2.*compress"):
        store.extract(**kwargs_of(case), compress="bzip2", out=str(tmp_path / "x.pcap"))
    with pytest.raises(TypeError, match="compress"):
        store.extract(**kwargs_of(case), compress=1, out=str(tmp_path / "x.pcap"))
    with pytest.raises(ValueError, match="compress"):
        store.extract(**kwargs_of(case), compress="gzip", archive=str(tmp_path / "arch"))
    assert not (tmp_path / "x.pcap").exists()
    assert not (tmp_path / "x.pcap.gz").exists()


def test_compress(tunnels, cli, tmp_path):
    root, case = tunnels
    store = capme.Store(root)
    _, plain = cli_extract(cli, root, case, tmp_path / "cli.pcap")
    s = store.extract(**kwargs_of(case), compress="gzip", out=str(tmp_path / "g.pcap"))
    assert s.output == str(tmp_path / "g.pcap.gz")
    assert not (tmp_path / "g.pcap").exists()
    assert gzip.decompress((tmp_path / "g.pcap.gz").read_bytes()) == plain
    # The CLI writes the same compressed file.
    r = run_cli(cli, "extract", "--store", root, "-o", str(tmp_path / "c.pcap"), "--compress",
                "gzip", *cli_args_of(case))
    assert r.returncode == 0, r.stderr
    assert gzip.decompress((tmp_path / "c.pcap.gz").read_bytes()) == plain

    for fmt, suffix, magic, module in (("zstd", ".zst", ZSTD_MAGIC, "zstandard"),
                                        ("lz4", ".lz4", LZ4_MAGIC, "lz4.frame")):
        s = store.extract(**kwargs_of(case), compress=fmt, out=str(tmp_path / f"f{suffix}"))
        path = tmp_path / f"f{suffix}"
        assert s.output == str(path)
        data = path.read_bytes()
        assert data[:4] == magic, fmt
        try:
            mod = __import__(module, fromlist=["x"])
        except ImportError:
            continue  # the magic is checked; no module here to decompress with
        if fmt == "zstd":
            assert mod.ZstdDecompressor().decompressobj().decompress(data) == plain
        else:
            assert mod.decompress(data) == plain
    # force= replaces a compressed output, as for a plain one.
    with pytest.raises(capme.InvalidQuery, match="already exists"):
        store.extract(**kwargs_of(case), compress="gzip", out=str(tmp_path / "g.pcap"))
    store.extract(**kwargs_of(case), compress="gzip", out=str(tmp_path / "g.pcap"), force=True)
    assert os.path.exists(tmp_path / "g.pcap.gz")
