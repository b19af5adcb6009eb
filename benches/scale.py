#!/usr/bin/env python3
"""Scaling benchmark (issue 12): does a month of a busy sensor answer a pivot as fast as one day,
in flat memory?

    python3 benches/scale.py [--dir /tmp/capme-scale] [--quick] [--keep] [--runs 5]

Builds the release binaries (capme, and gen-scale of the tools crate tools/capme-gen), generates
the stores with gen-scale (cached in DIR: a store whose manifest is there is reused), reads every
file once so that the stores are in the page cache, then for each store measures the `capme` CLI:
  pivot: `capme extract` of the store's one known UDP flow over its 2-second window: median and
    min wall time of --runs runs, and the peak RSS of one more run under /usr/bin/time (see
    run() for why not wait4's ru_maxrss); the JSON summary's packet count must equal the
    manifest's (else the script fails). Before any `capme index` ran on the store, after it, and after it with
    --no-catalogue where `capme extract --help` offers that flag (the catalogue's effect apart
    from the flow indexes');
  files: `capme files` of the same window, before and after the index (median of --runs);
  index: `capme index`, fresh (one run, under /usr/bin/time) and incremental (runs over the
    unchanged store, median of --runs), with the peak RSS of each.
Stores (8,000 files a day, 4 background packets each, Security Onion layout): 1, 10 and 30 days,
and one flat directory of 100,000 files. --quick: 1, 2 and 3 days of 300 files and a flat 2,000
(a smoke run of well under a minute). Needs /usr/bin/time (Debian package time).
Prints a Markdown report for BENCHMARKS.md (machine, commands, tables, the targets with
PASS/FAIL: the 30-day pivot within 1.5x of the 1-day pivot, every peak RSS <= 64 MiB; the
verdicts are informational and the exit status is 0) and writes the raw numbers to
DIR/results.json. Each store's .capme/ (its indexes; anything capme writes at the store root) is
removed before the store is measured, so "before index" holds for a cached store too.
Without --keep, DIR's stores are removed at the end.
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The binaries, in cargo's target directory (CARGO_TARGET_DIR or the workspace's target/).
RELEASE = os.path.join(json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True,
    capture_output=True).stdout)["target_directory"], "release")
CAPME = os.path.join(RELEASE, "capme")
GEN = os.path.join(RELEASE, "gen-scale")

# (name, gen-scale arguments) of each store.
FULL = [
    ("1 day", ["--days", "1", "--files-per-day", "8000"]),
    ("10 days", ["--days", "10", "--files-per-day", "8000"]),
    ("30 days", ["--days", "30", "--files-per-day", "8000"]),
    ("flat 100k", ["--flat", "--files", "100000", "--files-per-day", "8000"]),
]
QUICK = [
    ("1 day", ["--days", "1", "--files-per-day", "300"]),
    ("2 days", ["--days", "2", "--files-per-day", "300"]),
    ("3 days", ["--days", "3", "--files-per-day", "300"]),
    ("flat 2k", ["--flat", "--files", "2000", "--files-per-day", "300"]),
]
RSS_TARGET_MIB = 64
PIVOT_RATIO_TARGET = 1.5


def run(cmd, rss=False):
    """Runs cmd; returns (wall seconds, peak RSS MiB or None, stdout bytes). Fails loudly on a
    nonzero exit. With rss, the child runs under `/usr/bin/time -f %M`: wait4's ru_maxrss of a
    child that Python forks is useless here, since Linux keeps the forked Python's RSS (the
    pre-exec high-water mark) in it (about 14 MiB, more once Python holds more)."""
    with tempfile.NamedTemporaryFile(prefix="capme-scale-rss-") as peak:
        full = ["/usr/bin/time", "-f", "%M", "-o", peak.name, *cmd] if rss else cmd
        t0 = time.perf_counter()
        p = subprocess.run(full, capture_output=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"FAILED (exit {p.returncode}): {' '.join(cmd)}\n"
                             f"{p.stderr.decode(errors='replace')[-2000:]}")
        kib = int(open(peak.name).read().split()[-1]) if rss else None
    return dt, (kib / 1024 if rss else None), p.stdout


def repeat(cmd, runs, check=None):
    """`runs` timed runs of cmd, then one more for the peak RSS: {median, min, runs, rss_mib,
    summary}; `check(stdout)` after each returns the summary kept (the last run's)."""
    times, summary = [], None
    for _ in range(runs):
        dt, _, out = run(cmd)
        summary = check(out) if check else None
        times.append(dt)
    _, rss, out = run(cmd, rss=True)
    summary = check(out) if check else None
    return {"median": statistics.median(times), "min": min(times), "runs": times, "rss_mib": rss,
            "summary": summary}


def help_has(sub, flag):
    p = subprocess.run([CAPME, sub, "--help"], capture_output=True, text=True, check=True)
    return flag in p.stdout


def generate(d, name, args):
    """The store `name` in d (reused when its manifest is there and matches); returns the
    manifest."""
    slug = name.replace(" ", "-")
    store, manifest = os.path.join(d, slug), os.path.join(d, slug + ".json")
    cmd = [GEN, "--out", store, "--manifest", manifest, *args]
    if os.path.exists(manifest) and os.path.isdir(store):
        m = json.load(open(manifest))
        if m.get("gen_args") == args and os.path.abspath(m["store"]) == os.path.abspath(store):
            return m, cmd, None
    shutil.rmtree(store, ignore_errors=True)
    if os.path.exists(manifest):
        os.remove(manifest)
    print(f"generating {name}: {' '.join(cmd)}", file=sys.stderr)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    gen_s = time.perf_counter() - t0
    m = json.load(open(manifest))
    m["gen_args"] = args
    # Written after the store is complete: an interrupted generation is redone next time.
    with open(manifest, "w") as f:
        json.dump(m, f, indent=2)
    return m, cmd, gen_s


def clean(store):
    """Removes what capme wrote at the store root (gen-scale writes no hidden entries)."""
    for e in os.listdir(store):
        if e.startswith("."):
            p = os.path.join(store, e)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)


def warm(store):
    """Reads every file once (page cache, dentries and inodes)."""
    n = 0
    for d, _, fs in os.walk(store):
        for f in fs:
            with open(os.path.join(d, f), "rb") as fh:
                while fh.read(1 << 20):
                    pass
            n += 1
    return n


def fmt_t(r):
    if r is None:
        return "n/a"
    med, lo = r["median"], r["min"]
    if med < 1:
        return f"{med * 1000:.0f} ms ({lo * 1000:.0f})"
    return f"{med:.2f} s ({lo:.2f})"


def fmt_rss(r):
    return "n/a" if r is None else f"{r['rss_mib']:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "capme-scale"))
    ap.add_argument("--quick", action="store_true", help="small stores, a smoke run")
    ap.add_argument("--keep", action="store_true", help="keep the generated stores (reused by the next run)")
    ap.add_argument("--runs", type=int, default=5, help="runs per timed command (median and min)")
    a = ap.parse_args()
    if a.runs < 1:
        raise SystemExit(f"--runs {a.runs}: must be at least 1")
    if not os.access("/usr/bin/time", os.X_OK):
        raise SystemExit("/usr/bin/time is needed for the peak RSS: apt-get install time")
    # Two builds: the tools crate enables capme-core's test builders (feature `testutil`); built
    # together, the measured CLI would be built with them.
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "capme", "--bin", "capme"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "capme-gen", "--bin", "gen-scale"],
                   cwd=ROOT, check=True)
    no_cat = help_has("extract", "--no-catalogue")
    d = os.path.abspath(os.path.join(a.dir, "quick" if a.quick else "full"))
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, "out.pcap")
    rows, gen_cmds, cmds = [], [], {}
    for name, args in (QUICK if a.quick else FULL):
        m, gcmd, gen_s = generate(d, name, args)
        gen_cmds.append(gcmd)
        store = m["store"]
        clean(store)
        print(f"{name}: page-caching {m['files']} files...", file=sys.stderr)
        warm(store)
        win = ["--stime", str(m["stime"]), "--etime", str(m["etime"])]
        pivot = [CAPME, "extract", "--store", store, "--sip", m["sip"], "--spt", str(m["spt"]),
                 "--dip", m["dip"], "--dpt", str(m["dpt"]), "--proto", m["proto"], *win,
                 "-o", out, "--json", "--force"]
        files = [CAPME, "files", "--store", store, *win]
        index = [CAPME, "index", "--store", store, "--json"]

        def check(stdout, name=name, m=m, indexed=None):
            summary = json.loads(stdout)
            got = summary.get("packets")
            if got != m["packets"]:
                raise SystemExit(f"{name}: capme extract wrote {got} packets, the manifest says "
                                 f"{m['packets']}")
            if indexed is False and summary.get("files_indexed", 0) != 0:
                raise SystemExit(f"{name}: an index was used before `capme index` ran: {summary}")
            return summary

        print(f"{name}: measuring...", file=sys.stderr)
        r = {"name": name, "gen_args": args, "gen_seconds": gen_s, "files": m["files"],
             "bytes": m["bytes"], "layout": m["layout"], "flow_files": m["flow_files"]}
        r["files_before"] = repeat(files, a.runs)
        r["files_listed"] = len(run(files)[2].decode().splitlines())
        r["pivot_before"] = repeat(pivot, a.runs, lambda o: check(o, indexed=False))
        dt, rss, rep = run(index, rss=True)
        r["index_fresh"] = {"median": dt, "min": dt, "runs": [dt], "rss_mib": rss,
                            "report": json.loads(rep.decode().strip().splitlines()[-1])}
        r["index_incremental"] = repeat(index, a.runs)
        r["pivot_after"] = repeat(pivot, a.runs, check)
        r["pivot_after_no_catalogue"] = (repeat(pivot + ["--no-catalogue"], a.runs, check)
                                         if no_cat else None)
        r["files_after"] = repeat(files, a.runs)
        rows.append(r)
        cmds = {"extract": pivot, "files": files, "index": index}
        if os.path.exists(out):
            os.remove(out)

    # Targets.
    so = [r for r in rows if r["layout"] != "flat"]
    small, big = so[0], so[-1]
    verdicts = []
    for key, label in (("pivot_before", "before index"), ("pivot_after", "after index"),
                       ("pivot_after_no_catalogue", "after index, --no-catalogue")):
        if big[key] is None:
            continue
        ratio = big[key]["median"] / small[key]["median"]
        verdicts.append((f"{big['name']} pivot {label} within {PIVOT_RATIO_TARGET}x of the "
                         f"{small['name']} pivot: {ratio:.2f}x", ratio <= PIVOT_RATIO_TARGET))
    measured = ("pivot_before", "pivot_after", "pivot_after_no_catalogue", "files_before",
                "files_after", "index_fresh", "index_incremental")
    for r in rows:
        worst = max(((r[k]["rss_mib"], k) for k in measured if r[k] is not None))
        verdicts.append((f"{r['name']}: peak RSS <= {RSS_TARGET_MIB} MiB: largest {worst[0]:.1f} MiB "
                         f"({worst[1]})", worst[0] <= RSS_TARGET_MIB))

    cpu = ""
    try:
        cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    machine = {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu, "commit": rev,
               "date": time.strftime("%Y-%m-%d")}
    results = {"machine": machine, "quick": a.quick, "runs": a.runs, "no_catalogue_flag": no_cat,
               "rows": rows, "commands": cmds, "gen_commands": gen_cmds,
               "targets": [{"target": t, "pass": ok} for t, ok in verdicts]}
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(results, f, indent=2)

    # The binaries by name (cargo build --release puts them in its target directory's release/).
    rel = lambda c: " ".join(os.path.basename(x) if x in (CAPME, GEN) else x for x in c)
    print(f"## Scaling: many small files ({machine['date']}{', --quick' if a.quick else ''})\n")
    print(f"Machine: {machine['nproc']} cores ({cpu}), Linux {machine['kernel']}; capme at {rev}. "
          f"Stores page-cached; times are the median (min) of {a.runs} runs, RSS the peak of "
          f"one more run (`/usr/bin/time -f %M`).\n")
    print(f"Command: `python3 benches/scale.py{' --quick' if a.quick else ''} --runs {a.runs}`; "
          f"the stores:\n")
    print("```text")
    for c in gen_cmds:
        print(rel(c))
    print("```\n")
    print(f"Measured, per store (shown for the {rows[-1]['name']} store; the window is the flow's "
          f"2 seconds):\n")
    print("```text")
    for k in ("files", "extract", "index"):
        print(rel(cmds[k]))
    if no_cat:
        print(rel(cmds["extract"] + ["--no-catalogue"]))
    print("```\n")
    head = "| store | files | MB | pivot before index | RSS | pivot after index | RSS |"
    sep = "|---|---|---|---|---|---|---|"
    if no_cat:
        head += " pivot after index, --no-catalogue | RSS |"
        sep += "---|---|"
    print(head)
    print(sep)
    for r in rows:
        line = (f"| {r['name']} | {r['files']:,} | {r['bytes'] / 1e6:.1f} | {fmt_t(r['pivot_before'])} | "
                f"{fmt_rss(r['pivot_before'])} | {fmt_t(r['pivot_after'])} | {fmt_rss(r['pivot_after'])} |")
        if no_cat:
            line += (f" {fmt_t(r['pivot_after_no_catalogue'])} | "
                     f"{fmt_rss(r['pivot_after_no_catalogue'])} |")
        print(line)
    print()
    print("| store | `files` before index | `files` after index | files listed | index, fresh | RSS | "
          "index, incremental | RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {fmt_t(r['files_before'])} | {fmt_t(r['files_after'])} | "
              f"{r['files_listed']} | {fmt_t(r['index_fresh'])} | {fmt_rss(r['index_fresh'])} | "
              f"{fmt_t(r['index_incremental'])} | {fmt_rss(r['index_incremental'])} |")
    print()
    if not no_cat:
        print("`capme extract --help` has no `--no-catalogue`: the column that separates the "
              "catalogue's effect from the flow indexes' is skipped.\n")
    print("Targets (informational):\n")
    for t, ok in verdicts:
        print(f"- {'PASS' if ok else 'FAIL'}: {t}")
    print(f"\nRaw numbers: {os.path.join(d, 'results.json')}")
    if not a.keep:
        for name, _ in (QUICK if a.quick else FULL):
            slug = name.replace(" ", "-")
            shutil.rmtree(os.path.join(d, slug), ignore_errors=True)
            if os.path.exists(os.path.join(d, slug + ".json")):
                os.remove(os.path.join(d, slug + ".json"))


if __name__ == "__main__":
    main()
