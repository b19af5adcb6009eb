//! The CLI over captures of other link types: a PPP capture's flow is extracted with its link
//! type kept, and a file of a link type capme cannot decode is named, once, in a warning on
//! stderr and in the JSON summary.

mod common;

use capme_core::testutil::capture::PcapBuilder;
use capme_core::testutil::link as l;
use capme_core::testutil::packet::PacketBuilder;
use common::{json, s, stderr};
use std::process::{Command, Output};

fn capme(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capme"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_ppp_flow_is_extracted_and_an_undecodable_link_type_is_warned_once() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("store/sensor1/dailylogs/2023-11-14");
    std::fs::create_dir_all(&day).unwrap();
    let ip = |sport: u16| {
        PacketBuilder::raw_ip()
            .ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into())
            .udp(sport, 53)
            .payload(b"query")
            .build()
    };
    let mut ppp = PcapBuilder::new(9, false, false);
    let mut want = Vec::new();
    for (k, sport) in [5000u16, 6000, 5000].into_iter().enumerate() {
        let frame = l::ppp(0x0021, &ip(sport), true, false);
        ppp.packet((1_700_000_000 + k as u32, 0), &frame);
        if sport == 5000 {
            want.push(frame);
        }
    }
    ppp.write(day.join("snort.log.1700000000")).unwrap();
    let mut user = PcapBuilder::new(0x0400_0093, false, false); // USER0 with FCS flag
    for k in 0..3u32 {
        user.packet((1_700_000_000 + k, 0), &l::ethernet(0x0800, &ip(5000)));
    }
    let user_path = tmp
        .path()
        .join("store/sensor2/dailylogs/2023-11-14/snort.log.1700000000");
    std::fs::create_dir_all(user_path.parent().unwrap()).unwrap();
    user.write(&user_path).unwrap();
    let out = tmp.path().join("flow.pcap");
    let index = tmp.path().join("index");
    let store = tmp.path().join("store");
    let extract = |indexed: bool| {
        let mut args = vec![
            "extract",
            "--store",
            s(&store),
            "--sip",
            "10.0.0.1",
            "--spt",
            "5000",
            "--dip",
            "10.0.0.2",
            "--dpt",
            "53",
            "--proto",
            "udp",
            "--stime",
            "1700000000",
            "--etime",
            "1700000003",
            "-o",
            s(&out),
            "--force",
            "--json",
            "--index-dir",
            s(&index),
        ];
        if !indexed {
            args.push("--no-index");
        }
        capme(&args)
    };
    let o = capme(&[
        "extract",
        "--store",
        s(&tmp.path().join("store")),
        "--sip",
        "10.0.0.1",
        "--spt",
        "5000",
        "--dip",
        "10.0.0.2",
        "--dpt",
        "53",
        "--proto",
        "udp",
        "--stime",
        "1700000000",
        "--etime",
        "1700000003",
        "-o",
        s(&out),
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["packets"], 2);
    let warning = format!(
        "{}: link type 147 (USER0) is not supported; its 3 records were not searched",
        user_path.display()
    );
    assert_eq!(v["warning_messages"], serde_json::json!([warning]));
    let err = stderr(&o);
    assert_eq!(err.matches("link type 147").count(), 1, "{err}");
    assert!(err.contains(&format!("capme: warning: {warning}")), "{err}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        &bytes[20..24],
        &9u32.to_le_bytes(),
        "the PPP link type is kept"
    );
    let mut r = capme_core::capture::CaptureReader::open(&out).unwrap();
    let mut got = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        got.push(rec.data.to_vec());
    }
    assert_eq!(got, want);

    // Answered from the index, the file of the unknown link type is not read at all: its
    // index counted the records, and the same warning says so.
    let i = capme(&[
        "index",
        "--store",
        s(&tmp.path().join("store")),
        "--index-dir",
        s(&index),
    ]);
    assert!(i.status.success(), "{}", stderr(&i));
    for indexed in [true, false] {
        let o = extract(indexed);
        let v = json(&o);
        assert_eq!(v["packets"], 2);
        assert_eq!(v["files_indexed"], if indexed { 2 } else { 0 }, "{v}");
        assert_eq!(v["warning_messages"], serde_json::json!([warning]), "{v}");
        assert_eq!(stderr(&o).matches("link type 147").count(), 1);
    }
}
