//! `capme serve`'s tunnel options (issue 15) against the CLI's: on the generator's tunnel
//! store (`capme_gen::tunnels`), `layer=any|outer|inner` on /api/v1/pcap, /summary and
//! /transcript gives exactly what `capme extract`/`capme transcript --layer X` gives,
//! `decapsulate=1` exactly `capme extract --decapsulate`'s bytes, a bad layer is a 400 naming
//! `layer`; with an archive, a layer's or a decapsulated capture is never served for the
//! default query (nor the reverse); `capme extract --remote` forwards `--layer` and
//! `--decapsulate`.

mod common;

use capme_gen::tunnels::{tunnel_store, Case, TunnelStore};
use common::{capme, json, s, serve, stderr};
use std::io::Read;
use std::path::Path;

/// GET `url`: status and body.
fn get(url: &str) -> (u16, Vec<u8>) {
    let r = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    (status, body)
}

/// The CLI options of a case's inner flow over the whole store.
fn cli_args(st: &TunnelStore, c: &Case) -> Vec<String> {
    let (ca, cp, sa, sp) = c.inner;
    [
        "--sip",
        &ca.to_string(),
        "--spt",
        &cp.to_string(),
        "--dip",
        &sa.to_string(),
        "--dpt",
        &sp.to_string(),
        "--proto",
        "tcp",
        "--stime",
        &st.start.to_string(),
        "--etime",
        &st.end.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// The same flow as API parameters.
fn api_query(st: &TunnelStore, c: &Case) -> String {
    let (ca, cp, sa, sp) = c.inner;
    format!(
        "sip={ca}&spt={cp}&dip={sa}&dpt={sp}&proto=tcp&stime={}&etime={}",
        st.start, st.end
    )
}

/// `capme extract` of `c` with `extra` into `out`: its bytes.
fn cli_pcap(st: &TunnelStore, c: &Case, extra: &[&str], out: &Path) -> Vec<u8> {
    let q = cli_args(st, c);
    let mut args: Vec<&str> = vec!["extract", "--store", s(&st.root), "-o", s(out), "--force"];
    args.extend(q.iter().map(String::as_str));
    args.extend_from_slice(extra);
    let o = capme(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    std::fs::read(out).unwrap()
}

/// A case whose inner flow is seen both plain and inside its tunnel, so that the three
/// layers give three different captures.
fn case(st: &TunnelStore) -> &Case {
    st.cases
        .iter()
        .find(|c| c.name == "vxlan" && c.plain > 0 && c.tunnelled > 0)
        .or_else(|| st.cases.iter().find(|c| c.plain > 0 && c.tunnelled > 0))
        .expect("a case with plain and tunnelled packets")
}

#[test]
fn layer_and_decapsulate_give_the_clis_captures_summaries_and_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    let st = tunnel_store(&dir.path().join("store")).unwrap();
    let c = case(&st);
    let (_srv, url) = serve(&["--store", s(&st.root), "--max-window", "1d"]);
    let q = api_query(&st, c);
    let out = dir.path().join("cli.pcap");
    let mut seen = Vec::new();
    for layer in ["any", "outer", "inner"] {
        let want = cli_pcap(&st, c, &["--layer", layer], &out);
        let (status, got) = get(&format!("{url}/api/v1/pcap?{q}&layer={layer}"));
        assert_eq!(
            status,
            200,
            "layer={layer}: {}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(
            got, want,
            "layer={layer}: the server's capture is the CLI's"
        );
        seen.push(want);

        // The summary counts what the CLI's summary counts.
        let o = capme(
            &[
                &["extract", "--store", s(&st.root), "--json", "--force"][..],
                &["-o", s(&out), "--layer", layer],
                &cli_args(&st, c)
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()[..],
            ]
            .concat(),
        );
        let cli = json(&o);
        let (status, body) = get(&format!("{url}/api/v1/summary?{q}&layer={layer}"));
        assert_eq!(status, 200);
        let api: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(api["packets"], cli["packets"], "layer={layer}: {api}");
        assert_eq!(api["encapsulated"], cli["encapsulated"], "layer={layer}");

        // The transcript (json style: timestamps tell the plain and tunnelled copies apart).
        let o = capme(
            &[
                &["transcript", "--store", s(&st.root), "--style", "json"][..],
                &["--layer", layer],
                &cli_args(&st, c)
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()[..],
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let (status, body) = get(&format!(
            "{url}/api/v1/transcript?{q}&style=json&layer={layer}"
        ));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&o.stdout),
            "layer={layer}: the transcript"
        );
    }
    assert_ne!(seen[0], seen[1], "any and outer differ on this case");
    assert_ne!(seen[1], seen[2], "outer and inner differ on this case");

    // decapsulate (as the server parses its other flags) is the CLI's --decapsulate.
    let want = cli_pcap(&st, c, &["--decapsulate"], &out);
    assert_ne!(want, seen[0], "decapsulating changes this case's capture");
    for v in ["1", "true"] {
        let (status, got) = get(&format!("{url}/api/v1/pcap?{q}&decapsulate={v}"));
        assert_eq!(status, 200);
        assert_eq!(got, want, "decapsulate={v}");
    }
    let (_, got) = get(&format!("{url}/api/v1/pcap?{q}&decapsulate=0"));
    assert_eq!(got, seen[0], "decapsulate=0 is the default");

    // Bad values are 400s naming the parameter.
    for (param, bad) in [("layer", "middle"), ("decapsulate", "maybe")] {
        for path in ["pcap", "summary", "transcript"] {
            let (status, body) = get(&format!("{url}/api/v1/{path}?{q}&{param}={bad}"));
            assert_eq!(status, 400, "{path} {param}={bad}");
            let text = String::from_utf8_lossy(&body);
            assert!(text.contains(param) && text.contains(bad), "{text}");
        }
    }
    // The CapMe page takes the layer too, and carries it into its download link.
    let (status, body) = get(&format!(
        "{url}/capme/index.php?{q}&layer=inner&xscript=pcap"
    ));
    assert_eq!(status, 200);
    assert_eq!(body, seen[2], "the page's capture at layer=inner");
    let (status, body) = get(&format!("{url}/capme/index.php?{q}&layer=inner"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("layer=inner"));
    let (status, body) = get(&format!("{url}/capme/index.php?{q}&layer=middle"));
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("layer"));
}

#[test]
fn archive_keeps_layers_and_decapsulated_captures_apart() {
    let dir = tempfile::tempdir().unwrap();
    let st = tunnel_store(&dir.path().join("store")).unwrap();
    let c = case(&st);
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let (_srv, url) = serve(&[
        "--store",
        s(&st.root),
        "--max-window",
        "1d",
        "--archive",
        s(&archive),
    ]);
    let q = api_query(&st, c);
    let out = dir.path().join("cli.pcap");
    // Asked first with a layer or decapsulated, then by default: each its own capture.
    let order: [(&str, Vec<&str>); 4] = [
        ("layer=inner", vec!["--layer", "inner"]),
        ("decapsulate=1", vec!["--decapsulate"]),
        ("", vec![]),
        ("layer=outer", vec!["--layer", "outer"]),
    ];
    for _ in 0..2 {
        for (param, flags) in &order {
            let want = cli_pcap(&st, c, flags, &out);
            let (status, got) = get(&format!("{url}/api/v1/pcap?{q}&{param}"));
            assert_eq!(status, 200, "{param}: {}", String::from_utf8_lossy(&got));
            assert_eq!(got, want, "{param} through the archive");
        }
    }
}

#[test]
fn remote_extract_forwards_layer_and_decapsulate() {
    let dir = tempfile::tempdir().unwrap();
    let st = tunnel_store(&dir.path().join("store")).unwrap();
    let c = case(&st);
    let (_srv, url) = serve(&["--store", s(&st.root), "--max-window", "1d"]);
    let q = cli_args(&st, c);
    let local = dir.path().join("local.pcap");
    let remote = dir.path().join("remote.pcap");
    for flags in [
        vec!["--layer", "inner"],
        vec!["--layer", "outer"],
        vec!["--decapsulate"],
        vec!["--layer", "inner", "--decapsulate"],
    ] {
        let want = cli_pcap(&st, c, &flags, &local);
        let mut args: Vec<&str> = vec!["extract", "--remote", &url, "-o", s(&remote), "--force"];
        args.extend(q.iter().map(String::as_str));
        args.extend_from_slice(&flags);
        let o = capme(&args);
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        assert_eq!(
            std::fs::read(&remote).unwrap(),
            want,
            "{flags:?} over --remote"
        );
    }
    let mut args: Vec<&str> = vec!["extract", "--remote", &url, "-o", s(&remote), "--force"];
    args.extend(q.iter().map(String::as_str));
    args.extend(["--layer", "middle"]);
    let o = capme(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("layer"), "{}", stderr(&o));
    // --compress is not silently dropped over --remote: refused, naming it, nothing written.
    let gz = dir.path().join("remote-gz.pcap");
    let mut args: Vec<&str> = vec![
        "extract",
        "--remote",
        &url,
        "-o",
        s(&gz),
        "--compress",
        "gzip",
    ];
    args.extend(q.iter().map(String::as_str));
    let o = capme(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("compress"), "{}", stderr(&o));
    assert!(!gz.exists() && !dir.path().join("remote-gz.pcap.gz").exists());
}
