#!/usr/bin/env bash
# capme-c's whole test run: installs what it needs on Debian if missing (tcl8.6, tcl8.6-dev,
# valgrind, pkg-config), then
#   1. cargo test -p capme-c: header freshness, unit tests, the C programs under tests/c
#      compiled with cc (static and dynamic) and checked against the Rust API, and the same
#      program under valgrind (--leak-check=full --error-exitcode=1), required here;
#   2. make install PREFIX=<tmp>: the installed header, libcapme and capme.pc build and run
#      the example examples/c/minimal.c through pkg-config (15 packets, 3776 bytes);
#   3. the Tcl extension: built (stubs, static library), exports only Capme_Init, its
#      tcltest suite (tcl/tests/all.tcl, with gen-tunnels' store for tunnels.test) passes,
#      and the example examples/tcl/agent.tcl
#      extracts the README's flow into an archive (15 packets; cached the second time; exit
#      codes 2 and 1 for an invalid address and an empty window).
# The sample store examples/data/store is only read: every output goes to a temp dir.
# Prints one PASS/FAIL line per step and exits non-zero when any step failed.
#
# Environment: CAPME_PROFILE=debug|release (debug: reuses the build of step 1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
profile="${CAPME_PROFILE:-debug}"
target="${CARGO_TARGET_DIR:-$root/target}"
out="$target/$profile"
failed=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# ---- 0. tools -------------------------------------------------------------------------------
need=()
command -v tclsh >/dev/null 2>&1 || need+=(tcl8.6)
[ -f /usr/include/tcl8.6/tcl.h ] || need+=(tcl8.6-dev)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
if [ "${#need[@]}" -gt 0 ]; then
    echo "capme-c: installing ${need[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

# ---- 1. cargo tests (C programs, valgrind) --------------------------------------------------
cargo_flags=()
[ "$profile" = release ] && cargo_flags+=(--release)
vglog="$tmp/valgrind.txt"
if (cd "$root" && CAPME_REQUIRE_VALGRIND=1 CAPME_VALGRIND_LOG="$vglog" \
        cargo test -q "${cargo_flags[@]}" -p capme-c 2>&1 | tee "$tmp/cargo-test.log" \
        | grep -E '^(test result|test .* FAILED|failures|---- |thread .* panicked)' ); then
    if grep -q 'FAILED\|panicked' "$tmp/cargo-test.log" || ! grep -q '^test result: ok' "$tmp/cargo-test.log"; then
        grep -vE '^(P|E|A|J|C|W|WM) |^ +[0-9]+: |^ +at ' "$tmp/cargo-test.log" | tail -60
        fail "cargo test -p capme-c (see output above)"
    else
        pass "cargo test -p capme-c: $(grep -c '^test result: ok' "$tmp/cargo-test.log") test binaries ok (header, unit, C programs static+dynamic, valgrind)"
    fi
else
    fail "cargo test -p capme-c"
    tail -50 "$tmp/cargo-test.log"
fi
if [ -s "$vglog" ]; then
    pass "valgrind: $(grep 'ERROR SUMMARY' "$vglog" | sed 's/^==[0-9]*== //')"
    grep -E 'lost|freed' "$vglog" | sed 's/^==[0-9]*== */         /' || true
else
    fail "valgrind did not run"
fi

# ---- 2. make install + pkg-config ------------------------------------------------------------
prefix="$tmp/prefix"
if make -s -C "$here" install PREFIX="$prefix" PROFILE="$profile" >"$tmp/install.log" 2>&1; then
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    # shellcheck disable=SC2046
    if cc -std=c11 -Wall -Wextra -Werror "$root/examples/c/minimal.c" $(pkg-config --cflags --libs capme) \
            -Wl,-rpath,"$prefix/lib" -o "$tmp/minimal" \
        && "$tmp/minimal" "$root/examples/data/store" "$tmp/minimal.pcap" >"$tmp/minimal.json" \
        && grep -q '"packets":15,"bytes":3776' "$tmp/minimal.json" \
        && [ "$(pkg-config --modversion capme)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)" ]; then
        pass "make install PREFIX=...; examples/c/minimal.c via pkg-config: $(cut -c1-60 "$tmp/minimal.json")..."
    else
        fail "installed library / pkg-config example"
    fi
else
    fail "make install"
    cat "$tmp/install.log"
fi

# ---- 3. Tcl extension ------------------------------------------------------------------------
tcldir="$out/capme-c/tcl"
if make -s -C "$here" tcl PROFILE="$profile" >"$tmp/tcl.log" 2>&1; then
    syms="$(nm -D --defined-only "$tcldir/libcapmetcl.so" | awk '{print $3}')"
    if [ "$syms" = "Capme_Init" ]; then
        pass "Tcl extension built; exports only: $syms"
    else
        fail "Tcl extension exports more than Capme_Init: $(echo "$syms" | head -5 | tr '\n' ' ')"
    fi
    cli_env=()
    if (cd "$root" && cargo build -q "${cargo_flags[@]}" -p capme --bin capme) >/dev/null 2>&1; then
        cli_env=(CAPME_CLI="$out/capme")
    else
        fail "cargo build --bin capme (for the CLI message comparison)"
    fi
    # The tunnel store of tcl/tests/tunnels.test (gen-tunnels writes it and prints its cases).
    tunnel_env=()
    if (cd "$root" && cargo build -q "${cargo_flags[@]}" -p capme-gen --bin gen-tunnels) >/dev/null 2>&1 &&
        "$out/gen-tunnels" "$tmp/tunnels" >"$tmp/tunnel-cases.jsonl"; then
        tunnel_env=(CAPME_TUNNEL_STORE="$tmp/tunnels" CAPME_TUNNEL_CASES="$tmp/tunnel-cases.jsonl")
    else
        fail "gen-tunnels (the tunnel store of the Tcl suite)"
    fi
    if env CAPME_TCL_DIR="$tcldir" "${cli_env[@]}" "${tunnel_env[@]}" tclsh "$here/tcl/tests/all.tcl" >"$tmp/tcl-tests.log" 2>&1; then
        pass "$(tail -n 1 "$tmp/tcl-tests.log") ($(grep 'all.tcl:' "$tmp/tcl-tests.log" | tr -s '\t' ' '))"
    else
        cat "$tmp/tcl-tests.log"
        fail "Tcl suite: $(tail -n 1 "$tmp/tcl-tests.log")"
    fi
    # The agent example, found through TCLLIBPATH as a user would after make install-tcl.
    agent=(env TCLLIBPATH="$tcldir" tclsh "$root/examples/tcl/agent.tcl" -store "$root/examples/data/store"
           -archive "$tmp/agent-archive")
    flow=(-sip 10.10.5.10 -spt 52001 -dip 10.10.5.20 -dpt 22 -proto tcp)
    window=(-stime 1718407577 -etime 1718407578)
    rc_bad=0; rc_none=0
    "${agent[@]}" -sip nope -spt 52001 -dip 10.10.5.20 -dpt 22 "${window[@]}" >/dev/null 2>"$tmp/agent-bad.txt" || rc_bad=$?
    "${agent[@]}" "${flow[@]}" -stime 1718400000 -etime 1718400001 >/dev/null 2>&1 || rc_none=$?
    if "${agent[@]}" "${flow[@]}" "${window[@]}" >"$tmp/agent1.txt" 2>&1 \
        && "${agent[@]}" "${flow[@]}" "${window[@]}" >"$tmp/agent2.txt" 2>&1 \
        && grep -qx 'packets 15' "$tmp/agent1.txt" && grep -qx 'bytes 3776' "$tmp/agent1.txt" \
        && grep -qx 'cached false' "$tmp/agent1.txt" && grep -qx 'cached true' "$tmp/agent2.txt" \
        && [ -f "$(sed -n 's/^output //p' "$tmp/agent1.txt")" ] \
        && [ "$(sed -n 's/^output //p' "$tmp/agent1.txt")" = "$(sed -n 's/^output //p' "$tmp/agent2.txt")" ] \
        && [ "$(cut -d' ' -f1 "$tmp/agent1.txt" | tr '\n' ' ')" = "packets bytes first_ts last_ts output community_id files_scanned files_indexed bytes_read elapsed_ms cached warnings warning_messages first_ts_ns last_ts_ns truncated encapsulated " ] \
        && [ "$rc_bad" -eq 2 ] && grep -qx 'capme: invalid sip "nope": not an IPv4 or IPv6 address' "$tmp/agent-bad.txt" \
        && [ "$rc_none" -eq 1 ]; then
        pass "examples/tcl/agent.tcl: $(grep -E '^(packets|cached) ' "$tmp/agent1.txt" | tr '\n' ' ')then cached; exit codes 2 and 1"
    else
        fail "examples/tcl/agent.tcl (exit codes: invalid $rc_bad, no packets $rc_none)"
        cat "$tmp/agent1.txt" "$tmp/agent2.txt" "$tmp/agent-bad.txt" 2>/dev/null || true
    fi
else
    fail "make tcl"
    cat "$tmp/tcl.log"
fi

if [ "$failed" -gt 0 ]; then
    echo "capme-c: $failed step(s) FAILED"
    exit 1
fi
echo "capme-c: all steps passed"
