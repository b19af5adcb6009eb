#!/usr/bin/env python3
"""A/B of capme binaries on the macro benchmark's store: every flow of its manifest is pivoted
(window = the flow's first second +-60 s, unindexed, `-o` to a temporary file) on its own
sensor's directory, or with --whole on the whole store; each pivot is the best of --runs, the
binaries alternate every round, and the sums are printed.

    python3 benches/ab.py [--dir /tmp/capme-bench] [--whole] [--runs 5] OLD_BINARY NEW_BINARY...

Needs the store of `python3 benches/macro.py --keep`. To keep a binary of the current tree
before a change: `cp target/release/capme /tmp/capme-old`.
"""
import argparse, json, os, subprocess, tempfile, time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "capme-bench"))
    ap.add_argument("--whole", action="store_true", help="pivot on the whole store, not the flow's sensor")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    store = os.path.join(a.dir, "store")
    manifest = json.load(open(os.path.join(a.dir, "manifest.json")))
    out = os.path.join(tempfile.mkdtemp(prefix="capme-ab-"), "ab.pcap")
    pivots = []
    for f in manifest["flows"]:
        sec = f["first_ts_ns"] // 10**9
        root = store if a.whole else os.path.join(store, f["sensor"])
        args = ["extract", "--store", root, "--sip", f["src_ip"], "--dip", f["dst_ip"],
                "--proto", f["proto"], "--stime", str(sec - 60), "--etime", str(sec + 60),
                "-o", out, "--json", "--no-index"]
        if f.get("src_port"):
            args += ["--spt", str(f["src_port"]), "--dpt", str(f["dst_port"])]
        pivots.append(args)
    best = {b: [float("inf")] * len(pivots) for b in a.binaries}
    for _ in range(a.runs):
        for b in a.binaries:
            for i, args in enumerate(pivots):
                t0 = time.perf_counter()
                p = subprocess.run([b, *args], capture_output=True)
                dt = time.perf_counter() - t0
                if p.returncode not in (0, 1):
                    raise SystemExit(f"{b} {' '.join(args)}: exit {p.returncode}: {p.stderr.decode()[-500:]}")
                best[b][i] = min(best[b][i], dt)
    where = "the whole store" if a.whole else "each flow's sensor"
    for b in a.binaries:
        print(f"{b}: {len(pivots)} pivots on {where}, sum of best-of-{a.runs} = {sum(best[b]):.3f} s")


if __name__ == "__main__":
    main()
