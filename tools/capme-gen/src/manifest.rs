//! The manifest: a JSON description of the store (arguments, sensors, files) and of every
//! packet of every named flow, which the tests use as ground truth.

use crate::flow::Frag;
use crate::writer::{FileRec, FlowRec};
use crate::{Config, Res, S};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

pub(crate) fn ts_string(us: i64) -> String {
    format!("{}.{:06}", us.div_euclid(S), us.rem_euclid(S))
}

pub(crate) fn proto_name(p: u8) -> &'static str {
    match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "icmp6",
        _ => "other",
    }
}

pub(crate) fn manifest(
    args: &Config,
    sensors: &[Value],
    files: &[FileRec],
    flows: &[FlowRec],
    total: u64,
    warnings: &[String],
) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "path": f.path,
                "sensor": f.sensor,
                "name_epoch": f.name_epoch,
                "first_ts_ns": f.first * 1000,
                "last_ts_ns": f.last * 1000,
                "min_ts_ns": f.min * 1000,
                "max_ts_ns": f.max * 1000,
                "packet_count": f.packets,
                "bytes": f.bytes,
            })
        })
        .collect();
    let flows: Vec<Value> = flows
        .iter()
        .map(|f| {
            let first = f.packets.iter().map(|p| p.ts).min().unwrap_or(0);
            let last = f.packets.iter().map(|p| p.ts).max().unwrap_or(0);
            let packets: Vec<Value> = f
                .packets
                .iter()
                .map(|p| {
                    json!({
                        "ts_ns": p.ts * 1000,
                        "ts": ts_string(p.ts),
                        "len": p.len,
                        "file": p.file,
                        "index": p.index,
                        "dir": if p.tag.fwd { "fwd" } else { "rev" },
                        "flags": {
                            "vlan": p.tag.vlan,
                            "qinq": p.tag.qinq,
                            "mpls": p.tag.mpls,
                            "fragment": p.tag.frag != Frag::No,
                            "non_first_fragment": p.tag.frag == Frag::Later,
                            "ipv6_ext_headers": p.tag.ipv6_ext,
                            "disordered": p.disordered,
                            "after_next_file_start": p.after_next_file_start,
                        },
                    })
                })
                .collect();
            json!({
                "name": f.name,
                "description": f.description,
                "sensor": f.sensor,
                "proto": proto_name(f.proto),
                "proto_num": f.proto,
                "ip_version": if f.src.is_ipv6() { 6 } else { 4 },
                "src_ip": f.src.to_string(),
                "src_port": f.sport,
                "dst_ip": f.dst.to_string(),
                "dst_port": f.dport,
                "vlan_ids": f.vlan_ids,
                "mpls_labels": f.mpls,
                "first_ts": ts_string(first),
                "last_ts": ts_string(last),
                "first_ts_ns": first * 1000,
                "last_ts_ns": last * 1000,
                "packet_count": f.packets.len(),
                "bytes": f.packets.iter().map(|p| p.len).sum::<usize>(),
                "packets": packets,
            })
        })
        .collect();
    json!({
        "format": "capme-sample-store-manifest",
        "version": 1,
        "args": {
            "seed": args.seed,
            "sensors": args.sensors,
            "start": args.start,
            "duration": args.duration,
            "rotate": args.rotate,
            "target_bytes": args.target_bytes,
        },
        "pcap": {"linktype": 1, "snaplen": 65535, "precision": "us", "byte_order": "little"},
        "total_bytes": total,
        "warnings": warnings,
        "sensors": sensors,
        "files": files,
        "flows": flows,
    })
}

pub(crate) fn write_json(path: &Path, v: &Value) -> Res<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    fs::write(path, s)?;
    Ok(())
}
