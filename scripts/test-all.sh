#!/usr/bin/env bash
# Runs every test of capme on a fresh machine: installs what the tests need (Debian's tcpdump
# and tshark for the differential tests; capme-c's and capme-py's scripts install tcl8.6-dev,
# valgrind, pkg-config, python3-venv and, from PyPI, maturin, ziglang, pytest, splunk-sdk), then
# formatting, lints and the whole test suite of the workspace, the C/Tcl and the Python parts.
# This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing ${need[*]} (Debian packages) for the differential tests"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# CAPME_REQUIRE_TOOLS makes the differential tests fail, not skip, when tcpdump/tshark are missing.
CAPME_REQUIRE_TOOLS=1 cargo test --workspace
echo "== capme-c: C ABI, valgrind, pkg-config install, Tcl extension"
./capme-c/scripts/test.sh
echo "== capme-py: wheel (abi3, manylinux2014) in a fresh virtualenv, pytest, Splunk app"
./capme-py/scripts/test.sh
