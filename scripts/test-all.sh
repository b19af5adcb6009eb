#!/usr/bin/env bash
# Runs every test of capme on a fresh machine: installs what the tests need (Debian's tcpdump
# and tshark for the differential tests, tcpflow for the transcript comparison, chromium and
# chromium-driver for the page's browser test, gzip, zstd and lz4 for the compressed-store
# cross-check, openssl for the https peer test; capme-c's and capme-py's scripts install
# tcl8.6-dev, valgrind, pkg-config, python3-venv, libmagic1, openssl and, from PyPI, maturin,
# ziglang, pytest, splunk-sdk, splunk-appinspect), then
# formatting, lints, the whole test suite of the workspace, the Rust API examples, the C/Tcl and
# the Python parts.
# This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# tests/page_browser.rs: the CapMe page in headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v tcpflow >/dev/null 2>&1 || need+=(tcpflow)
# capme-serve/tests/peers.rs makes a private CA and certificate for its https peer.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# tests/compressed.rs: stores compressed by the command-line tools read as the plain ones.
command -v gzip >/dev/null 2>&1 || need+=(gzip)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v lz4 >/dev/null 2>&1 || need+=(lz4)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing ${need[*]} (Debian packages) for the differential and transcript tests"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# CAPME_REQUIRE_TOOLS makes the differential, transcript and browser tests fail, not skip, when
# tcpdump/tshark/tcpflow/chromium/chromedriver are missing. The browser test's screenshot goes
# to target/test-artifacts/capme-page.png (CAPME_TEST_ARTIFACTS overrides).
CAPME_REQUIRE_TOOLS=1 cargo test --workspace
echo "== examples (cargo run --example): the README's flow, 15 packets, as the CLI extracts it"
# They are what Rust users copy from: run each so that none can rot. Outputs go to a temporary
# directory; nothing is written under examples/data (the index goes to --index-dir).
ex="$(mktemp -d -t capme-examples.XXXXXX)"
trap 'rm -rf "$ex"' EXIT
flow=(--sip 10.10.5.10 --spt 52001 --dip 10.10.5.20 --dpt 22 --proto tcp
      --stime 1718407577 --etime 1718407578)
example() {
    local name="$1"; shift
    cargo run -q --example "$name" -- --store examples/data/store "$@" >"$ex/$name.out"
    sed 's/^/    /' "$ex/$name.out"
}
# What is under examples/data before (a user may have run `capme index` on it: that stays).
data_before="$(find examples/data -printf '%p %s %T@\n' | sort)"
cargo run -q --bin capme -- extract --store examples/data/store "${flow[@]}" -o "$ex/cli.pcap"
example extract_to_file "${flow[@]}" --out "$ex/extract_to_file.pcap"
grep -q "^15 packets, 3776 bytes written to " "$ex/extract_to_file.out"
cmp "$ex/cli.pcap" "$ex/extract_to_file.pcap"
example stream_packets "${flow[@]}"
[ "$(grep -c ' bytes sensor sensor1-eth1 file ' "$ex/stream_packets.out")" -eq 15 ]
grep -qx "15 packets" "$ex/stream_packets.out"
example use_index --index-dir "$ex/index" --out "$ex/use_index.pcap"
grep -q "^indexed 16 capture files" "$ex/use_index.out"
grep -q "^15 packets written to .*: 2 files answered from the index, 0 scanned" "$ex/use_index.out"
cmp "$ex/cli.pcap" "$ex/use_index.pcap"
[ "$(find examples/data -printf '%p %s %T@\n' | sort)" = "$data_before" ]
echo "examples: ok"
echo "== capme-c: C ABI, valgrind, pkg-config install, Tcl extension"
./capme-c/scripts/test.sh
echo "== capme-py: wheel (abi3, manylinux2014) in a fresh virtualenv, pytest, Splunk app"
./capme-py/scripts/test.sh
