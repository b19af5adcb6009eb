//! Micro-benchmarks of the per-packet hot loop on the bundled sample store's realistic mix:
//! record framing (pcap), header decode, and key match (5-tuple and Community ID).
//!
//! `cargo bench --bench hot_loop`. Throughput is reported per packet and per byte.

use capme_core::capture::CaptureReader;
use capme_core::search::Matcher;
use capme_core::wire::decode;
use capme_core::FlowSpec;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::io::Cursor;
use std::path::PathBuf;

/// All capture files of the sample store, concatenated per file in memory.
fn sample_files() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/store");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(std::fs::read(p).unwrap());
            }
        }
    }
    out
}

/// A reader over shared bytes, so that framing is measured without copying the input.
struct Shared(std::sync::Arc<Vec<u8>>, usize);

impl std::io::Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.0[self.1..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.1 += n;
        Ok(n)
    }
}

fn packets(files: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for f in files {
        let mut r =
            CaptureReader::from_read(Box::new(Cursor::new(f.clone())), "mem".into()).unwrap();
        while let Some(rec) = r.next_record().unwrap() {
            v.push(rec.data.to_vec());
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let files = sample_files();
    let pkts = packets(&files);
    let total: usize = files.iter().map(|f| f.len()).sum();
    let shared: Vec<std::sync::Arc<Vec<u8>>> = files
        .iter()
        .map(|f| std::sync::Arc::new(f.clone()))
        .collect();
    let mut g = c.benchmark_group("framing");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("pcap_records", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for f in &shared {
                let mut r =
                    CaptureReader::from_read(Box::new(Shared(f.clone(), 0)), "mem".into()).unwrap();
                while let Some(rec) = r.next_record().unwrap() {
                    n += rec.data.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("per_packet");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for p in &pkts {
                if decode(1, black_box(p)).is_some() {
                    n += 1;
                }
            }
            black_box(n)
        })
    });
    let tuple = FlowSpec::parse_tuple(
        "10.10.5.10",
        Some("52001"),
        "10.10.5.20",
        Some("22"),
        Some("tcp"),
    )
    .unwrap();
    g.bench_function("match_tuple", |b| {
        let mut m = Matcher::new(tuple.clone());
        b.iter(|| {
            let mut n = 0usize;
            for p in &pkts {
                if m.check(1, black_box(p)) != capme_core::search::Verdict::NoMatch {
                    n += 1;
                }
            }
            black_box(n)
        })
    });
    let cid = FlowSpec::parse_community_id("1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=").unwrap();
    g.bench_function("match_community_id", |b| {
        let mut m = Matcher::new(cid.clone());
        b.iter(|| {
            let mut n = 0usize;
            for p in &pkts {
                if m.check(1, black_box(p)) != capme_core::search::Verdict::NoMatch {
                    n += 1;
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
