//! The sensor filter (`Store::with_sensors`): plans, listings, extractions and archives keep
//! only the named sensors' files; an unknown sensor is an error naming `sensor` and listing the
//! store's sensors. Runs on a copy of the sample store (two sensors) in a temporary directory.

use capme_core::{ErrorKind, Packet, QuerySpec, Store, TimeWindow};
use std::fs;
use std::path::{Path, PathBuf};

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A copy of the sample store: (tempdir, store root).
fn store_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    copy_tree(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/store"),
        &root,
    );
    (tmp, root)
}

/// The window of `shared-tcp`, the flow both sensors saw.
fn shared_window() -> TimeWindow {
    TimeWindow::parse("1718409881", "1718409883").unwrap()
}

fn shared_query() -> capme_core::Query {
    QuerySpec {
        sip: Some("10.10.12.10"),
        spt: Some("46000"),
        dip: Some("10.10.12.20"),
        dpt: Some("80"),
        proto: Some("tcp"),
        stime: Some("1718409881"),
        etime: Some("1718409883"),
        ..QuerySpec::default()
    }
    .parse()
    .unwrap()
}

fn sensors_of(store: &Store) -> Vec<String> {
    store
        .plan(&shared_window())
        .unwrap()
        .sensors()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn a_plan_keeps_only_the_named_sensors() {
    let (_tmp, root) = store_copy();
    let all = Store::open([&root]).unwrap();
    assert_eq!(sensors_of(&all), ["sensor1-eth1", "sensor2-eth0"]);
    assert_eq!(
        all.sensor_names().unwrap(),
        ["sensor1-eth1", "sensor2-eth0"]
    );
    let one = all.clone().with_sensors(["sensor2-eth0"]);
    assert_eq!(one.sensors(), Some(&["sensor2-eth0".to_string()][..]));
    assert_eq!(sensors_of(&one), ["sensor2-eth0"]);
    let plan = one.plan(&shared_window()).unwrap();
    assert!(plan.files().all(|f| &*f.sensor == "sensor2-eth0"));
    assert!(plan.files().next().is_some());
    // Both named: the same as no restriction; an empty list lifts it.
    let both = all
        .clone()
        .with_sensors(["sensor2-eth0", "sensor1-eth1", "sensor2-eth0"]);
    assert_eq!(sensors_of(&both), sensors_of(&all));
    assert_eq!(
        all.clone().with_sensors(Vec::<String>::new()).sensors(),
        None
    );
    // Listings and counts follow the restriction.
    let listed = one.list().unwrap();
    assert_eq!(listed.files.len(), 8);
    assert!(listed.files.iter().all(|f| &*f.sensor == "sensor2-eth0"));
    assert_eq!(one.count_files().unwrap(), 8);
    assert_eq!(all.count_files().unwrap(), 16);
}

#[test]
fn an_extraction_reads_only_the_named_sensors() {
    let (_tmp, root) = store_copy();
    let store = Store::open([&root]).unwrap().use_index(false);
    let q = shared_query();
    let count = |s: &Store| {
        let mut got: Vec<Packet> = Vec::new();
        s.extract(&q, &mut got).unwrap().packets
    };
    // The flow was seen by both sensors: 15 packets each.
    assert_eq!(count(&store), 30);
    assert_eq!(count(&store.clone().with_sensors(["sensor1-eth1"])), 15);
    assert_eq!(count(&store.clone().with_sensors(["sensor2-eth0"])), 15);
    // A flow only sensor2-eth0 saw is not found on sensor1-eth1.
    let mpls = QuerySpec {
        sip: Some("10.10.6.10"),
        spt: Some("52002"),
        dip: Some("10.10.6.20"),
        dpt: Some("25"),
        proto: Some("tcp"),
        stime: Some("1718407858"),
        etime: Some("1718407860"),
        ..QuerySpec::default()
    }
    .parse()
    .unwrap();
    let mut got: Vec<Packet> = Vec::new();
    let e = store
        .clone()
        .with_sensors(["sensor1-eth1"])
        .extract(&mpls, &mut got)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoPackets, "{e}");
}

#[test]
fn an_unknown_sensor_is_an_error_naming_sensor_and_the_store_sensors() {
    let (_tmp, root) = store_copy();
    let store = Store::open([&root])
        .unwrap()
        .with_sensors(["sensor1-eth1", "nope"]);
    let e = store.plan(&shared_window()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidQuery);
    let m = e.to_string();
    assert!(m.starts_with("invalid sensor \"nope\""), "{m}");
    assert!(m.contains("sensor1-eth1, sensor2-eth0"), "{m}");
    assert!(matches!(
        e,
        capme_core::Error::InvalidQuery {
            field: "sensor",
            ..
        }
    ));
    // Searches and counts refuse it too.
    let mut got: Vec<Packet> = Vec::new();
    let e = store.extract(&shared_query(), &mut got).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidQuery, "{e}");
    assert!(store.count_files().is_err());
}

#[test]
fn a_sensor_without_files_in_the_window_is_no_error() {
    // sensor2-eth0's first file starts at 1718406274: before it, only sensor1-eth1 has files.
    // A known sensor with nothing in the window plans nothing; it is not an unknown sensor.
    let (_tmp, root) = store_copy();
    let store = Store::open([&root]).unwrap();
    let w = TimeWindow::parse("1718406140", "1718406200").unwrap();
    let sensors = |s: &Store| -> Vec<String> {
        s.plan(&w)
            .unwrap()
            .sensors()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    assert_eq!(sensors(&store), ["sensor1-eth1"]);
    assert!(sensors(&store.clone().with_sensors(["sensor2-eth0"])).is_empty());
}

#[test]
fn a_restricted_extraction_is_archived_apart_from_an_unrestricted_one() {
    let (tmp, root) = store_copy();
    let archive = tmp.path().join("archive");
    fs::create_dir(&archive).unwrap();
    let store = Store::open([&root]).unwrap().use_index(false);
    let q = shared_query();
    let all = store.extract_to_archive(&q, &archive, false).unwrap();
    let one = store
        .clone()
        .with_sensors(["sensor1-eth1"])
        .extract_to_archive(&q, &archive, false)
        .unwrap();
    let two = store
        .clone()
        .with_sensors(["sensor2-eth0"])
        .extract_to_archive(&q, &archive, false)
        .unwrap();
    assert!(
        !one.cached && !two.cached,
        "not served from the unrestricted entry"
    );
    assert_eq!((all.packets, one.packets, two.packets), (30, 15, 15));
    let (pa, p1, p2) = (
        all.output.unwrap(),
        one.output.unwrap(),
        two.output.unwrap(),
    );
    assert_ne!(pa, p1);
    assert_ne!(p1, p2);
    let dir = |p: &Path| p.parent().unwrap().file_name().unwrap().to_owned();
    assert_eq!(dir(&pa), "sensor1-eth1+sensor2-eth0");
    assert_eq!(dir(&p1), "sensor1-eth1");
    assert_eq!(dir(&p2), "sensor2-eth0");
    // Asked again, each is its own cache hit.
    let again = store
        .clone()
        .with_sensors(["sensor1-eth1"])
        .extract_to_archive(&q, &archive, false)
        .unwrap();
    assert!(again.cached);
    assert_eq!(again.output.unwrap(), p1);
    assert_eq!(again.packets, 15);
}
