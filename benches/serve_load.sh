#!/usr/bin/env bash
# Load run of `capme serve` with wrk on loopback: pivots per second and p50/p99 latency of
# /api/v1/summary and /api/v1/pcap, unindexed and after `capme index` (issue 14).
#
#   benches/serve_load.sh [--bytes N] [--duration 20s] [--threads 2] [--connections 8] [--keep DIR]
#
# It builds the release binaries (capme, gen-store), generates a store of about N bytes (default
# 600 MB, two sensors, 15-minute files) in a temporary directory (or reuses DIR/store with
# --keep DIR), starts `capme serve --insecure-no-auth` on a free loopback port, and for each
# endpoint runs `wrk -tT -cC -dD --latency` twice: on the store as generated (every pivot scans
# the files of its window) and after `capme index` (a new server, so the indexes and the
# catalogue are read from a cold start of the process). Needs wrk (Debian: apt-get install wrk),
# python3 and curl.
#
# The queries are the store's named TCP/UDP flows (its manifest), each with the window a pivot
# has: the flow's own seconds +-60 s. Every request is a different query (the end of the window
# moves by up to 96 s, which reads the same files): identical concurrent requests would share
# one extraction (single flight) and measure the sharing, not the pivots. Each request is a
# whole pivot: plan the window, read (or look up) the files, match, and send the summary or the
# capture. The server logs every request to a file in the work directory, as it would in
# production. A non-2xx answer fails the run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bytes=600000000
duration=20s
threads=2
connections=8
keep=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bytes) bytes="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --keep) keep="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
for tool in wrk python3 curl; do
    command -v "$tool" >/dev/null || { echo "serve_load: $tool is required (apt-get install $tool)" >&2; exit 2; }
done

target="${CARGO_TARGET_DIR:-$here/target}"
(cd "$here" && cargo build -q --release -p capme --bin capme -p capme-gen --bin gen-store)
capme="$target/release/capme"

if [ -n "$keep" ]; then
    work="$keep"
    mkdir -p "$work"
else
    work="$(mktemp -d -t capme-serve-load.XXXXXX)"
fi
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

store="$work/store"
if [ ! -d "$store" ]; then
    echo "generating a store of about $bytes bytes in $store"
    "$target/release/gen-store" --out "$store" --target-bytes "$bytes" --manifest "$work/manifest.json" >/dev/null
fi
# A previous --keep run may have indexed it: start unindexed.
rm -rf "$store/.capme"
store_bytes="$(du -sb "$store" | cut -f1)"
store_files="$(find "$store" -type f | wc -l)"

# The queries, as a Lua table for wrk: path without etime, and the window's end.
python3 - "$work/manifest.json" >"$work/flows.lua" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
rows = []
for f in m["flows"]:
    if f["proto"] not in ("tcp", "udp") or f["packet_count"] == 0:
        continue
    first = f["first_ts_ns"] // 10**9
    last = f["last_ts_ns"] // 10**9
    q = "sip=%s&spt=%d&dip=%s&dpt=%d&proto=%s&stime=%d" % (
        f["src_ip"], f["src_port"], f["dst_ip"], f["dst_port"], f["proto"], first - 60)
    row = '{q="%s", etime=%d}' % (q, last + 60)
    # A flow seen by two sensors is in the manifest twice: one query.
    if row not in rows:
        rows.append(row)
if not rows:
    sys.exit("no TCP/UDP flow in the manifest")
print("flows = {" + ",\n".join(rows) + "}")
EOF
nflows="$(grep -c 'q=' "$work/flows.lua")"

cat >"$work/pivots.lua" <<EOF
-- One different pivot per request: flow i, window end moved by 0..96 s.
dofile("$work/flows.lua")
local n = 0
function setup(thread)
    n = n + 1
    thread:set("id", n)
end
function init(args)
    endpoint = args[1]
    counter = 0
end
function request()
    counter = counter + 1
    local k = counter * $threads + id
    local f = flows[k % #flows + 1]
    local path = endpoint .. "?" .. f.q .. "&etime=" .. (f.etime + math.floor(k / #flows) % 97)
    return wrk.format("GET", path)
end
EOF

start_server() {
    local log="$work/serve-$1.log"
    : >"$log"
    "$capme" serve --store "$store" --listen 127.0.0.1:0 --insecure-no-auth \
        --max-concurrent 1000 2>"$log" &
    server_pid=$!
    base=""
    for _ in $(seq 1 600); do
        base="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)"
        [ -n "$base" ] && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$log"; echo "capme serve exited" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$base" ] || { echo "capme serve did not start" >&2; exit 1; }
    base="${base%/}"
}

stop_server() {
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

results=()
# One wrk run: name (of its output file), label, endpoint; prints and records the label,
# requests/s, p50, p99, requests and the mean response size.
run() {
    local label="$2" endpoint="$3" out="$work/wrk-$1.txt"
    # Warm the page cache and the process (one pass over every flow), then measure.
    wrk -t"$threads" -c"$connections" -d3s -s "$work/pivots.lua" "$base" -- "$endpoint" >/dev/null
    wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/pivots.lua" "$base" -- "$endpoint" >"$out"
    if grep -q 'Non-2xx or 3xx responses' "$out"; then
        cat "$out"; echo "serve_load: $label: non-2xx answers" >&2; exit 1
    fi
    local rps p50 p99 n size
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    n="$(awk '/requests in/ {print $1}' "$out")"
    # Mean body and headers per response, from wrk's total ("12.34MB read").
    size="$(awk -v n="$n" '/requests in/ {v = $5; u = v; gsub(/[0-9.]/, "", u); sub(/[A-Z]+$/, "", v);
        m = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1;
        printf "%.0f", v * m / n}' "$out")"
    printf '%-22s %10s pivots/s   p50 %9s   p99 %9s   (%s requests, %s bytes each)\n' \
        "$label" "$rps" "$p50" "$p99" "$n" "$size"
    results+=("| $label | $rps | $p50 | $p99 | $n | $size |")
}

# What one query of each kind reads, for the record.
sample() {
    local q
    q="$(sed -n '1s/^flows = {{q="\([^"]*\)", etime=\([0-9]*\)}.*/\1\&etime=\2/p' "$work/flows.lua")"
    curl -sf "$base/api/v1/summary?$q"
}

echo "store: $store_bytes bytes in $store_files files; $nflows flows; wrk -t$threads -c$connections -d$duration --latency"
start_server unindexed
echo "one pivot, unindexed: $(sample)"
run summary-unindexed "summary, unindexed" /api/v1/summary
run pcap-unindexed "pcap, unindexed" /api/v1/pcap
stop_server

"$capme" index --store "$store" >/dev/null 2>&1
echo "indexed: $(du -sb "$store/.capme" | cut -f1) bytes of index and catalogue"
start_server indexed
echo "one pivot, indexed: $(sample)"
run summary-indexed "summary, indexed" /api/v1/summary
run pcap-indexed "pcap, indexed" /api/v1/pcap
metrics="$(curl -sf "$base/metrics" | grep -E '^capme_(pivots|shared|files_indexed|files_scanned)_total' | tr '\n' ' ')"
stop_server
echo "indexed server's counters: $metrics"

echo
echo "| run | pivots/s | p50 | p99 | requests | bytes per response |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
