#!/bin/bash
# A/B of one pivot: OLD and NEW capme binaries (env OLD, NEW), interleaved, on a store; prints
# the min wall time and peak RSS of 5 runs each. Usage: OLD=... NEW=... benches/ab_pivot.sh STORE STIME ETIME [extra args]
# (the flow is gen-scale's: 10.1.2.3:40000 <-> 10.9.8.7:53 udp). Needs /usr/bin/time.
S=$1; ST=$2; ET=$3; shift 3

for i in 1 2 3 4 5; do
  for bin in "$OLD" "$NEW"; do
    /usr/bin/time -f "$bin %e %M" $bin extract --store $S --sip 10.1.2.3 --spt 40000 --dip 10.9.8.7 --dpt 53 --proto udp --stime $ST --etime $ET -o "${TMPDIR:-/tmp}/ab_pivot.pcap" --force --json "$@" 2>&1 >/dev/null | tail -1
  done
done | sort | awk '{k=$1; if(!(k in m)||$2<m[k])m[k]=$2; if($3>r[k])r[k]=$3} END{for(k in m) printf "%s min %.3f s, peak %.1f MiB\n", k, m[k], r[k]/1024}'
