//! Server time per indexed pivot: the sample store (copied to a tempdir, indexed), one flow
//! asked for again and again, in-process (Store::extract into a counting sink, the work of
//! /api/v1/summary) and over HTTP on loopback (/api/v1/summary and /api/v1/pcap), p50 and p99.
//!
//! `cargo bench -p capme-serve --bench serve` (ROUNDS=N to change the 500 rounds). A benchmark,
//! not a test: nothing is asserted about time.
//!
//! The HTTP rounds run twice: with the store's listing kept current with inotify (the
//! default, `ServeConfig::watch`) and without (every request lists the store). With
//! `STORE=DIR MANIFEST=FILE` (a store and manifest written by tools/capme-gen's `gen-scale`,
//! as benches/scale.py makes them) the store of many files is used as it is (not copied, not
//! indexed, unless `INDEX=1`: flow indexes and catalogue as `capme index` writes them) and its
//! manifest's flow and window are asked for.

use capme_core::{Packet, QuerySpec, Sink, Store};
use capme_serve::{auth::AllowLoopback, ServeConfig, Server};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

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
        "{name:<44} n={:<5} p50 {:>8.1} µs   p99 {:>8.1} µs",
        t.len(),
        p(0.5),
        p(0.99)
    );
}

/// The flow asked for, as a query string and as QuerySpec fields.
struct Flow {
    q: String,
    f: [String; 7],
}

impl Flow {
    fn spec(&self) -> QuerySpec<'_> {
        let f = &self.f;
        QuerySpec {
            sip: Some(&f[0]),
            spt: Some(&f[1]),
            dip: Some(&f[2]),
            dpt: Some(&f[3]),
            proto: Some(&f[4]),
            stime: Some(&f[5]),
            etime: Some(&f[6]),
            ..Default::default()
        }
    }
}

fn flow_of(m: &serde_json::Value) -> Flow {
    let v = |k: &str| match &m[k] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let f = ["sip", "spt", "dip", "dpt", "proto", "stime", "etime"].map(v);
    let q = serde_urlencoded::to_string(
        ["sip", "spt", "dip", "dpt", "proto", "stime", "etime"]
            .iter()
            .zip(&f)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    Flow { q, f }
}

/// The HTTP rounds against a server over `store`, with or without the inotify watch.
fn http_rounds(store: Store, watch: bool, rounds: usize, q: &str) {
    let mut c = ServeConfig::new(store, "127.0.0.1:0".parse().unwrap(), AllowLoopback);
    c.log = false;
    c.max_concurrent = 1000;
    c.watch = watch;
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
    let mode = if watch { "inotify" } else { "no watch" };
    for path in [
        "/healthz",
        "/api/v1/summary",
        "/api/v1/pcap",
        "/api/v1/files",
    ] {
        let url = match path {
            "/healthz" => format!("http://{addr}{path}"),
            "/api/v1/files" => {
                let w: String = q
                    .split('&')
                    .filter(|kv| kv.starts_with("stime=") || kv.starts_with("etime="))
                    .collect::<Vec<_>>()
                    .join("&");
                format!("http://{addr}{path}?{w}")
            }
            _ => format!("http://{addr}{path}?{q}"),
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
        report(&format!("HTTP GET {path} ({mode})"), times);
    }
    let _ = stop.send(());
    let _ = th.join();
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let (store, flow) = match (std::env::var_os("STORE"), std::env::var_os("MANIFEST")) {
        (Some(store), Some(manifest)) => {
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
            println!(
                "store {} ({} files), flow {}",
                Path::new(&store).display(),
                m["files"],
                flow_of(&m).q
            );
            let store = Store::open([store]).unwrap();
            if std::env::var_os("INDEX").is_some() {
                // As `capme index`: flow indexes and the catalogue, in the store's .capme.
                let r = store.build_indexes().unwrap();
                println!("indexed: {r:?}");
            }
            (store, flow_of(&m))
        }
        _ => {
            let root = dir.path().join("store");
            copy_tree(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data/store"),
                &root,
            );
            let store = Store::open([&root]).unwrap();
            store.build_indexes().unwrap();
            let flow = flow_of(&serde_json::json!({
                "sip": "10.10.1.10", "spt": 51000, "dip": "10.10.1.20", "dpt": 80,
                "proto": "tcp", "stime": 1718406490, "etime": 1718406500
            }));
            (store, flow)
        }
    };
    let query = flow.spec().parse().unwrap();
    let s = store.extract(&query, &mut Count).unwrap();
    println!(
        "{} packets, {} files indexed, {} scanned",
        s.packets, s.files_indexed, s.files_scanned
    );
    let times = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            store.extract(&query, &mut Count).unwrap();
            t.elapsed()
        })
        .collect();
    report("in-process Store::extract (counting)", times);
    http_rounds(store.clone(), false, rounds, &flow.q);
    http_rounds(store, true, rounds, &flow.q);
}
