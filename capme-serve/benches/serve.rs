//! Server time per indexed pivot: the sample store (copied to a tempdir, indexed), one flow
//! asked for again and again, in-process (Store::extract into a counting sink, the work of
//! /api/v1/summary) and over HTTP on loopback (/api/v1/summary and /api/v1/pcap), p50 and p99.
//!
//! `cargo bench -p capme-serve --bench serve` (ROUNDS=N to change the 500 rounds). A benchmark,
//! not a test: nothing is asserted about time.

use capme_core::{Packet, QuerySpec, Sink, Store};
use capme_serve::{auth::AllowLoopback, ServeConfig, Server};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

const Q: &str =
    "sip=10.10.1.10&spt=51000&dip=10.10.1.20&dpt=80&proto=tcp&stime=1718406490&etime=1718406500";

struct Count;
impl Sink for Count {
    fn packet(&mut self, _: &Packet) -> capme_core::Result<bool> {
        Ok(true)
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn report(name: &str, mut t: Vec<Duration>) {
    t.sort();
    let p = |q: f64| t[((t.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<40} n={:<5} p50 {:>8.1} µs   p99 {:>8.1} µs",
        t.len(),
        p(0.5),
        p(0.99)
    );
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/store"),
        &root,
    );
    let store = Store::open([&root]).unwrap();
    store.build_indexes().unwrap();
    let query = QuerySpec {
        sip: Some("10.10.1.10"),
        spt: Some("51000"),
        dip: Some("10.10.1.20"),
        dpt: Some("80"),
        proto: Some("tcp"),
        stime: Some("1718406490"),
        etime: Some("1718406500"),
        ..Default::default()
    }
    .parse()
    .unwrap();
    let s = store.extract(&query, &mut Count).unwrap();
    assert!(s.files_indexed > 0 && s.files_scanned == 0, "{s:?}");
    let times = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            store.extract(&query, &mut Count).unwrap();
            t.elapsed()
        })
        .collect();
    report("in-process Store::extract (counting)", times);

    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c.max_concurrent = 1000;
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let th = std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let s = Server::bind(c).await.unwrap();
                tx.send(s.local_addr().unwrap()).unwrap();
                s.serve(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            })
    });
    let addr = rx.recv().unwrap();
    let agent = ureq::AgentBuilder::new().build();
    for path in ["/healthz", "/api/v1/summary", "/api/v1/pcap"] {
        let url = if path == "/healthz" {
            format!("http://{addr}{path}")
        } else {
            format!("http://{addr}{path}?{Q}")
        };
        let times = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                let r = agent.get(&url).call().unwrap();
                let mut b = Vec::new();
                r.into_reader().read_to_end(&mut b).unwrap();
                t.elapsed()
            })
            .collect();
        report(&format!("HTTP loopback GET {path}"), times);
    }
    let _ = stop.send(());
    let _ = th.join();
}
