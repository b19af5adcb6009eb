"""GIL release and Ctrl-C on a store large enough that one search takes about half a second."""

import signal
import subprocess
import sys
import textwrap
import threading
import time

import capme

# A 5-tuple present once in the generated store (the QinQ flow of every copy).
FLOW = ("10.10.5.10", 52001, "10.10.5.20", 22)
WINDOW = (1718406137, 1718413337)  # the whole generated capture


def test_gil_is_released_during_search(big_store):
    # One scan thread, so a core is left for the Python thread: what is measured is whether
    # the search holds the GIL, not how the OS shares two busy cores among three threads.
    store = capme.Store(big_store, threads=1)
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    bins_total = 0
    bins_hit = 0
    late_hit = 0
    busy = 0.0
    t = threading.Thread(target=spin)
    t.start()
    try:
        for _ in range(3):
            it = store.search(*FLOW, *WINDOW)
            # One __next__ call reads until its batch (at most 256 packets) is full or the
            # search ends: here the whole store, in Rust.
            t0 = time.perf_counter()
            first = next(it)
            t1 = time.perf_counter()
            assert first.ts_ns > 0
            busy += t1 - t0
            # Cut the call into 10 ms slices. With the GIL held for the whole call the other
            # thread runs at most in the first slice or two (until the call takes the GIL);
            # with it released, it runs in most of them. On a loaded machine the OS may not
            # give it a core in every slice, so the bar is a third of the slices, and the
            # second half of the call must have some: a GIL held throughout gives neither.
            n = int((t1 - t0) / 0.010)
            hit = {int((x - t0) / 0.010) for x in ticks if t0 < x < t1}
            bins_total += n
            bins_hit += len(hit & set(range(n)))
            late_hit += len(hit & set(range(n // 2, n)))
            ticks.clear()
    finally:
        stop.set()
        t.join()
    assert busy > 0.3, f"searches too short to tell ({busy:.3f} s): make the big store larger"
    assert late_hit > 0, "the other thread never ran in the second half of a search"
    assert bins_hit >= bins_total / 3, (
        f"the other thread ran in only {bins_hit} of {bins_total} 10 ms slices of the search"
    )


CHILD = textwrap.dedent(
    """
    import sys, time, capme
    store = capme.Store(sys.argv[1])
    mode = sys.argv[2]
    flow = ("10.10.5.10", 52001, "10.10.5.20", 22)
    t = time.perf_counter()
    n = len(list(store.search(*flow, 1718406137, 1718413337)))
    full = time.perf_counter() - t
    print("full", full, n, flush=True)
    t = time.perf_counter()
    print("go", flush=True)
    try:
        while True:
            if mode == "search":
                for p in store.search(community_id="1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=",
                                      stime=1718406137, etime=1718413337):
                    pass
            else:
                store.extract(*flow, 1718406137, 1718413337, out=sys.argv[3])
    except KeyboardInterrupt:
        print("interrupted", time.perf_counter() - t, flush=True)
        sys.exit(0)
    """
)


def _interrupt(big_store, mode, tmp_path):
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, big_store, mode, str(tmp_path / "out.pcap")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        full = float(p.stdout.readline().split()[1])
        assert full > 0.3, f"one search takes only {full:.3f} s: make the big store larger"
        assert p.stdout.readline().strip() == "go"
        delay = full / 2
        time.sleep(delay)
        sent = time.perf_counter()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        ended = time.perf_counter() - sent
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.startswith("interrupted"), (out, err)
    print(f"{mode}: a search takes {full:.3f} s; stopped {ended:.3f} s after SIGINT")
    # Ended well before the running search would have (it had about full/2 to go).
    assert ended < 0.05 + full / 4, f"took {ended:.3f} s to stop (a search takes {full:.3f} s)"


def test_ctrl_c_interrupts_search(big_store, tmp_path):
    _interrupt(big_store, "search", tmp_path)


def test_ctrl_c_interrupts_extract(big_store, tmp_path):
    _interrupt(big_store, "extract", tmp_path)
