//! Flow index: an indexed extraction returns exactly what a scan returns, and an index that is
//! missing, stale, corrupt, partial (growing file) or orphaned is handled.

use capme_core::testutil::capture::{PcapBuilder, PcapngBuilder};
use capme_core::testutil::packet::udp4;
use capme_core::{FlowSpec, Packet, Query, Store, TimeWindow};
use std::fs;
use std::path::{Path, PathBuf};

/// (path, size, mtime) of every file below `dir` (empty when it does not exist).
fn dir_snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(p);
            } else {
                out.push((p, m.len(), m.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn sample_store() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/store")
}

fn run(store: &Store, q: &Query) -> (Vec<(i64, Vec<u8>)>, capme_core::Summary) {
    let mut got: Vec<Packet> = Vec::new();
    match store.extract(q, &mut got) {
        Ok(sum) => (
            got.iter()
                .map(|p| (p.ts.as_nanos(), p.data.to_vec()))
                .collect(),
            sum,
        ),
        Err(capme_core::Error::NoPackets { .. }) => (Vec::new(), capme_core::Summary::default()),
        Err(e) => panic!("{e}"),
    }
}

/// A manifest flow of the sample store: name, 5-tuple spec, first and last packet times (ns).
struct ManifestFlow {
    name: String,
    flow: FlowSpec,
    first_ns: i64,
    last_ns: i64,
}

fn manifest_flows() -> Vec<ManifestFlow> {
    let m: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    m["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].to_string().trim_matches('"').to_string();
            ManifestFlow {
                name: s("name"),
                flow: FlowSpec::parse_tuple(
                    &s("src_ip"),
                    Some(&s("src_port")),
                    &s("dst_ip"),
                    Some(&s("dst_port")),
                    Some(&s("proto")),
                )
                .unwrap(),
                first_ns: f["first_ts_ns"].as_i64().unwrap(),
                last_ns: f["last_ts_ns"].as_i64().unwrap(),
            }
        })
        .collect()
}

#[test]
fn indexed_equals_scanned_for_every_manifest_flow() {
    let idx = tempfile::tempdir().unwrap();
    let scan = Store::open([sample_store()]).unwrap().use_index(false);
    let indexed = Store::open([sample_store()])
        .unwrap()
        .with_index_dir(idx.path());
    // Whatever a `capme index` run left in the sample store's own .capme/ stays as it was.
    let own = sample_store().join(".capme");
    let own_before = dir_snapshot(&own);
    let rep = indexed.build_indexes().unwrap();
    assert_eq!(rep.built, 16, "{rep:?}");
    // The sample store is the worst case for the index's size: 67 kB files of tiny flows
    // (1-15 packets of 60-200 bytes), where the per-flow entry (14 bytes) and the per-file
    // header weigh most. It measures 2.2 % here; the 2 % target of the issue is measured by
    // benches/macro.py on a realistic mix (0.4 %). This bound catches a format that grows.
    assert!(
        rep.index_bytes * 40 < rep.capture_bytes,
        "index larger than 2.5 %: {rep:?}"
    );
    assert_eq!(
        dir_snapshot(&own),
        own_before,
        "--index-dir must not write into the store"
    );
    let mut n = 0;
    for ManifestFlow {
        name,
        flow,
        first_ns,
        last_ns,
    } in manifest_flows()
    {
        // The same flow asked by its Community ID (the index finds it by tag).
        let FlowSpec::Tuple { keys, .. } = &flow else {
            unreachable!()
        };
        let by_cid = FlowSpec::parse_community_id(&keys[0].community_id(0).to_string()).unwrap();
        for (a, b) in [
            (first_ns - 60_000_000_000, last_ns + 60_000_000_000),
            (first_ns, first_ns),
        ] {
            let w = TimeWindow::new(capme_core::Timestamp(a), capme_core::Timestamp(b)).unwrap();
            for spec in [&flow, &by_cid] {
                let q = Query::new(spec.clone(), w);
                let (want, _) = run(&scan, &q);
                let (got, sum) = run(&indexed, &q);
                assert_eq!(got, want, "{name} {spec}");
                assert!(!want.is_empty());
                assert!(
                    sum.files_indexed > 0 && sum.files_scanned == 0,
                    "{name} {spec} {sum:?}"
                );
                n += 1;
            }
        }
    }
    assert!(n >= 60);
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

/// A packet of A:sport -> B:53 marked `mark`, `pad` zero bytes longer.
fn udp(sport: u16, mark: u8, pad: usize) -> Vec<u8> {
    let mut payload = vec![mark; 8];
    payload.resize(8 + pad, 0);
    udp4(A, sport, B, 53, &payload)
}

/// A 3 MB file: background flows (ports 6000+) and flow 5000 in the middle only.
fn big_file(path: &Path) -> PcapBuilder {
    let mut b = PcapBuilder::new(1, false, false);
    for i in 0..3000u32 {
        let sport = if (1400..1410).contains(&i) {
            5000
        } else {
            6000 + (i % 50) as u16
        };
        b.packet(
            (1_700_000_000 + i / 10, (i % 10) * 100_000),
            &udp(sport, (i % 200) as u8, 1000),
        );
    }
    b.write(path).unwrap();
    b
}

fn q5000(a: &str, b: &str) -> Query {
    Query::new(
        capme_core::testutil::udp_flow(),
        TimeWindow::parse(a, b).unwrap(),
    )
}

#[test]
fn index_reads_only_matching_blocks_and_handles_stale_corrupt_missing_growing_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("s1/dailylogs/2023-11-14");
    fs::create_dir_all(&d).unwrap();
    let cap = d.join("snort.log.1700000000");
    let mut builder = big_file(&cap);
    let store = Store::open([dir.path()]).unwrap();
    let scan = Store::open([dir.path()]).unwrap().use_index(false);
    let q = q5000("1700000000", "1700000400");
    let (want, s0) = run(&scan, &q);
    assert_eq!(want.len(), 10);

    // Missing index: scanned.
    let (got, sum) = run(&store, &q);
    assert_eq!(
        (got == want, sum.files_indexed, sum.files_scanned),
        (true, 0, 1)
    );

    // Fresh index: one block of three read.
    let rep = store.build_indexes().unwrap();
    assert_eq!(rep.built, 1);
    let ip = store.index_for(&cap).unwrap();
    assert_eq!(
        ip,
        dir.path()
            .join(".capme/s1/dailylogs/2023-11-14/snort.log.1700000000.cidx")
    );
    let (got, sum) = run(&store, &q);
    assert_eq!(
        (got == want, sum.files_indexed, sum.files_scanned),
        (true, 1, 0)
    );
    assert!(
        sum.bytes_read * 2 < s0.bytes_read,
        "indexed read {} vs scan {}",
        sum.bytes_read,
        s0.bytes_read
    );
    assert_eq!(
        store.build_indexes().unwrap().fresh,
        1,
        "a fresh index is not rebuilt"
    );

    // Corrupt index: a warning, and the file is scanned.
    let good = fs::read(&ip).unwrap();
    let mut bad = good.clone();
    bad[60] ^= 1;
    fs::write(&ip, &bad).unwrap();
    let (got, sum) = run(&store, &q);
    assert_eq!((got == want, sum.files_indexed), (true, 0));
    assert!(
        sum.warning_messages.iter().any(|w| w.contains("checksum")),
        "{:?}",
        sum.warning_messages
    );
    fs::write(&ip, &good).unwrap();

    // Growing file: packets appended after indexing are found in the unindexed tail.
    let mut bytes = fs::read(&cap).unwrap();
    let extra = PcapBuilder::new(1, false, false)
        .packet((1_700_000_350, 0), &udp(5000, 250, 10))
        .bytes();
    bytes.extend_from_slice(&extra[24..]);
    fs::write(&cap, &bytes).unwrap();
    let (want2, _) = run(&scan, &q);
    assert_eq!(want2.len(), 11);
    let (got, sum) = run(&store, &q);
    assert_eq!((got == want2, sum.files_indexed), (true, 1));

    // Stale (rewritten smaller): scanned, and the index rebuilt on the next pass.
    builder = {
        let mut b = PcapBuilder::new(1, false, false);
        b.packet((1_700_000_001, 0), &udp(5000, 7, 0));
        b.write(&cap).unwrap();
        std::mem::drop(builder);
        b
    };
    let (got, sum) = run(&store, &q);
    assert_eq!((got.len(), sum.files_indexed, sum.files_scanned), (1, 0, 1));
    assert_eq!(store.build_indexes().unwrap().built, 1);
    let (got, sum) = run(&store, &q);
    assert_eq!((got.len(), sum.files_indexed), (1, 1));
    drop(builder);

    // Deleted capture file: its index is removed.
    fs::remove_file(&cap).unwrap();
    assert_eq!(store.build_indexes().unwrap().removed, 1);
    assert!(!ip.exists());
}

/// The sample store rewritten as pcapng, with what makes pcapng harder than pcap: an unused
/// interface before the real one (packets on interface 1), a second section in the other byte
/// order half-way through each file with its own interfaces (nanosecond resolution there), and
/// a statistics block. Indexed extraction must equal the scan for every manifest flow.
fn pcapng_copy_of_the_sample_store(to: &Path) {
    let root = sample_store();
    // The capture files as the store lists them: never the index sidecars of a `capme index`
    // run on the sample store.
    for p in capme_core::testutil::capture_files(&root) {
        {
            let mut r = capme_core::capture::CaptureReader::open(&p).unwrap();
            let mut recs = Vec::new();
            while let Some((rec, iface)) = r.next_with_interface().unwrap() {
                recs.push((
                    rec.ts.as_nanos(),
                    rec.data.to_vec(),
                    rec.orig_len,
                    iface.linktype,
                ));
            }
            let mut b = PcapngBuilder::new();
            b.section(false);
            let linktype = recs.first().map_or(1, |r| r.3) as u16;
            b.interface(147, 65535, None, None); // unused
            let i1 = b.interface(linktype, 65535, None, None); // microseconds
            let half = recs.len() / 2;
            let mut iface = i1;
            let mut nanos = false;
            for (k, (ts, data, orig, _)) in recs.iter().enumerate() {
                if k == half {
                    b.block(5, &[0u8; 8]); // an interface statistics block, ignored
                    b.section(true);
                    iface = b.interface(linktype, 65535, Some(9), None);
                    nanos = true;
                }
                let raw = if nanos { *ts } else { *ts / 1000 } as u64;
                b.epb(iface, raw, data, *orig);
            }
            let out = to.join(p.strip_prefix(&root).unwrap());
            fs::create_dir_all(out.parent().unwrap()).unwrap();
            b.write(&out).unwrap();
        }
    }
}

#[test]
fn pcapng_files_are_indexed_and_answer_like_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    pcapng_copy_of_the_sample_store(&store_dir);
    let idx = dir.path().join("idx");
    let scan = Store::open([&store_dir]).unwrap().use_index(false);
    let indexed = Store::open([&store_dir]).unwrap().with_index_dir(&idx);
    let rep = indexed.build_indexes().unwrap();
    assert_eq!(rep.built, 16, "{rep:?}");
    let mut n = 0;
    for ManifestFlow {
        name,
        flow,
        first_ns,
        last_ns,
    } in manifest_flows()
    {
        let w = TimeWindow::new(
            capme_core::Timestamp(first_ns - 60_000_000_000),
            capme_core::Timestamp(last_ns + 60_000_000_000),
        )
        .unwrap();
        let q = Query::new(flow, w);
        let (want, _) = run(&scan, &q);
        let (got, sum) = run(&indexed, &q);
        assert_eq!(got, want, "{name}");
        assert!(!want.is_empty(), "{name}");
        assert!(
            sum.files_indexed > 0 && sum.files_scanned == 0,
            "{name} {sum:?}"
        );
        n += 1;
    }
    assert!(n >= 10);
}

/// Fragments far from their first fragment (more than the reads' coalescing gap apart) are
/// found through their address pair's list, whether the flow is asked by 5-tuple or by
/// Community ID (whose index lookup must find the key, then its address pair).
#[test]
fn distant_fragments_are_found_by_tuple_and_by_community_id() {
    use capme_core::testutil::packet::PacketBuilder;
    use std::net::Ipv4Addr;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("s1/dailylogs/2023-11-14");
    fs::create_dir_all(&d).unwrap();
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let frags = PacketBuilder::ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(a, b)
        .id(77)
        .udp(5000, 53)
        .payload(&[0x5a; 3000])
        .fragments(3);
    let mut pb = PcapBuilder::new(1, false, false);
    let t = |i: u32| (1_700_000_000 + i / 100, (i % 100) * 10_000);
    pb.packet(t(0), &frags[0]);
    for i in 1..200u32 {
        // 200 x ~1 kB of other traffic between the first fragment and the others.
        pb.packet(t(i), &udp(6000 + (i % 7) as u16, 1, 1000));
    }
    pb.packet(t(200), &frags[1]);
    pb.packet(t(201), &frags[2]);
    pb.write(d.join("snort.log.1700000000")).unwrap();
    let idx = dir.path().join("idx");
    let scan = Store::open([dir.path()]).unwrap().use_index(false);
    let indexed = Store::open([dir.path()]).unwrap().with_index_dir(&idx);
    assert_eq!(indexed.build_indexes().unwrap().built, 1);
    let flow = capme_core::testutil::udp_flow();
    let FlowSpec::Tuple { keys, .. } = &flow else {
        unreachable!()
    };
    let by_cid = FlowSpec::parse_community_id(&keys[0].community_id(0).to_string()).unwrap();
    let w = TimeWindow::parse("1700000000", "1700000010").unwrap();
    for spec in [flow.clone(), by_cid] {
        let q = Query::new(spec.clone(), w);
        let (want, _) = run(&scan, &q);
        let (got, sum) = run(&indexed, &q);
        assert_eq!(want.len(), 3, "{spec}");
        assert_eq!(got, want, "{spec}");
        assert_eq!(sum.files_indexed, 1, "{spec}");
        assert!(sum.bytes_read < 100_000, "{spec}: read {}", sum.bytes_read);
    }
}

/// Records more than 2 s out of order: a scan (which reads every record) and an indexed read
/// (which reads only the flow's) give the same order, the documented one: the reorder buffer
/// releases a packet only when a later packet *of the flow* is more than 2 s past it (or the
/// buffer is full, or the chain ends), never because of other traffic read in between.
#[test]
fn deep_disorder_gives_the_same_order_scanned_and_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("s1/dailylogs/2023-11-14");
    fs::create_dir_all(&day).unwrap();
    let t0 = 1_700_000_100u32;
    let mut b = PcapBuilder::new(1, false, false);
    b.packet((t0, 0), &udp(5000, 1, 0));
    // 40 kB of other traffic, later: a scan reads it (and used to release 1 and 2 on it, as
    // the latest time read when 2 matched), an indexed read skips it (more than the
    // coalescing gap).
    for i in 0..40u32 {
        b.packet((t0 + 3 + i / 8, 0), &udp(6000, 9, 1000));
    }
    b.packet((t0 + 1, 0), &udp(5000, 2, 0));
    // The flow's packet stamped 5 s before the first one.
    b.packet((t0 - 5, 0), &udp(5000, 3, 0));
    b.packet((t0 + 9, 0), &udp(5000, 4, 0));
    b.write(day.join("snort.log.1700000000")).unwrap();
    let q = q5000("1700000090", "1700000120");
    let marks =
        |v: &[(i64, Vec<u8>)]| -> Vec<u8> { v.iter().map(|(_, d)| d[d.len() - 8]).collect() };
    let scanned = run(&Store::open([dir.path()]).unwrap().use_index(false), &q);
    let idx = dir.path().join("idx");
    let indexed_store = Store::open([dir.path()]).unwrap().with_index_dir(&idx);
    assert_eq!(indexed_store.build_indexes().unwrap().built, 1);
    let indexed = run(&indexed_store, &q);
    assert_eq!(indexed.1.files_indexed, 1);
    assert_eq!(marks(&scanned.0), marks(&indexed.0));
    assert_eq!(
        marks(&scanned.0),
        vec![3, 1, 2, 4],
        "sorted: the flow's packets are within 2 s of each other's release"
    );
}
