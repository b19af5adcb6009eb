#!/usr/bin/env bash
# Tests of capme-py (the Python package and the Splunk app) on a fresh Debian machine with
# python3 and cargo: lints the crate, builds the capme CLI and a large generated store, builds
# the manylinux wheel with maturin (zig), installs it into a fresh virtualenv, checks the
# stubs with mypy's stubtest, builds the Splunk app's two packages (the default one without
# compiled code, and the on-premises x86_64 one with the module), installs Splunk's AppInspect
# (splunk-appinspect, which needs libmagic) for the package tests, and runs the pytest suite
# (including examples/python/, run as scripts). Exits non-zero on any failure (also when
# pytest collects no test).
#   usage: capme-py/scripts/test.sh            (CAPME_PY_WORK=DIR keeps the work files there)
set -euo pipefail
py_dir="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$py_dir/.." && pwd)"
cd "$root"

need=()
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv python3-pip)
# splunk-appinspect identifies files with python-magic (libmagic); the https test of the
# Splunk app makes its private CA with openssl.
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1 ' || need+=(libmagic1)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "== installing ${need[*]} (Debian)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

work="${CAPME_PY_WORK:-$(mktemp -d -t capme-py.XXXXXX)}"
mkdir -p "$work"
if [ -z "${CAPME_PY_WORK:-}" ]; then
    trap 'rm -rf "$work"' EXIT
fi
echo "== work directory $work"

echo "== build tools (virtualenv: maturin, ziglang, pytest, auditwheel)"
rm -rf "$work/build-venv"
python3 -m venv "$work/build-venv"
bpy="$work/build-venv/bin/python"
"$bpy" -m pip install --quiet --disable-pip-version-check 'maturin>=1.5,<2' ziglang auditwheel
export PATH="$work/build-venv/bin:$PATH"   # maturin --zig runs `python -m ziglang`
export PYO3_PYTHON="$bpy"

echo "== cargo fmt --check / clippy -D warnings (capme-py)"
cargo fmt --manifest-path capme-py/Cargo.toml --check
cargo clippy --manifest-path capme-py/Cargo.toml --all-targets -- -D warnings

echo "== capme CLI and a large generated store (for the GIL and Ctrl-C tests)"
cargo build --release --bin capme
# The generator is the tools crate capme-gen (built on its own: it enables capme-core's test
# builders, which the CLI above must not be built with).
cargo build --release -p capme-gen --bin gen-store --bin gen-tunnels
rm -rf "$work/big"
target_dir="$(cargo metadata --format-version 1 --no-deps | "$bpy" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
"$target_dir/release/gen-store" --out "$work/big" --target-bytes 200000000 >/dev/null

echo "== wheel (maturin, manylinux2014 with zig)"
rm -rf "$work/dist"
(cd capme-py && maturin build --release --compatibility manylinux2014 --zig --out "$work/dist")
wheel="$(ls "$work"/dist/capme-*.whl)"
echo "wheel: $(basename "$wheel")"
# auditwheel checks the symbols the extension needs against the manylinux policies.
auditwheel show "$wheel" | tr -s '\n' ' ' | fold -s -w 100; echo
case "$(basename "$wheel")" in
    *manylinux2014_x86_64*|*manylinux_2_17_*) ;;
    *) echo "unexpected wheel tag: $wheel" >&2; exit 1 ;;
esac

echo "== fresh virtualenv with the wheel"
rm -rf "$work/test-venv"
python3 -m venv "$work/test-venv"
tpy="$work/test-venv/bin/python"
"$tpy" -m pip install --quiet --disable-pip-version-check "$wheel" pytest 'mypy>=1.10'

# The hand-written stubs against the installed module: stubtest fails on any class, method,
# argument or attribute present on one side only (e.g. a Summary field added in Rust and not
# in _capme.pyi). Then the example users copy, type-checked against those stubs. Run from
# $work so that `capme` is the installed wheel, not capme-py/python/.
echo "== mypy stubtest capme (the stubs against the built module), mypy --strict examples/python"
(cd "$work" && "$tpy" -m mypy.stubtest capme)
"$tpy" -m mypy --strict --cache-dir "$work/mypy-cache" "$root/examples/python"

echo "== Splunk app: splunk-sdk 3.0.x into capme_app/bin/lib; the default and x86_64 packages"
rm -rf "$work/splunk-dist"
PYTHON="$bpy" capme-py/splunk/build.sh --package
PYTHON="$bpy" capme-py/splunk/build.sh --package --with-module "$wheel"
mkdir -p "$work/splunk-dist"
mv capme-py/splunk/dist/capme_app.tgz capme-py/splunk/dist/capme_app-x86_64.tgz \
    "$work/splunk-dist/"

echo "== Splunk AppInspect (splunk-appinspect, in its own virtualenv)"
rm -rf "$work/appinspect-venv"
python3 -m venv "$work/appinspect-venv"
"$work/appinspect-venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'splunk-appinspect>=4.3,<5'
export CAPME_APPINSPECT="$work/appinspect-venv/bin/splunk-appinspect"
export CAPME_SPLUNK_DIST="$work/splunk-dist"

echo "== pytest"
set +e
(cd capme-py/tests && CAPME_CLI="$target_dir/release/capme" CAPME_BIG_STORE="$work/big" \
    CAPME_GEN_TUNNELS="$target_dir/release/gen-tunnels" "$tpy" -m pytest -p no:cacheprovider -ra "$@" .)
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

# The same abi3 wheel on other interpreters, e.g. Splunk's 3.9 and 3.13:
#   CAPME_PY_EXTRA_PYTHONS="/usr/bin/python3.9 /usr/bin/python3.13" capme-py/scripts/test.sh
for extra in ${CAPME_PY_EXTRA_PYTHONS:-}; do
    echo "== pytest with $extra ($("$extra" --version 2>&1))"
    venv="$work/venv-$(basename "$extra")"
    rm -rf "$venv"
    "$extra" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" pytest
    set +e
    (cd capme-py/tests && CAPME_CLI="$target_dir/release/capme" CAPME_BIG_STORE="$work/big" \
        CAPME_GEN_TUNNELS="$target_dir/release/gen-tunnels" "$venv/bin/python" -m pytest -p no:cacheprovider -ra "$@" .)
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 5 ] && echo "pytest collected no tests: failing" >&2
        exit 1
    fi
done
