//! `GET /capme/index.php`: CapMe's own page, for the links Squert, ELSA and Kibana make.
//!
//! CapMe's parameters (`sip`, `spt`, `dip`, `dpt`, `stime`, `etime`; IPv6 accepted; a `proto`
//! honoured; `usr`, `pwd`, `filename`, `sidsrc` ignored) go through the core's CapMe URL parser
//! ([`capme_core::pivot::url`]), exactly as `capme extract --url` takes them; `sensor`
//! (repeatable) restricts the page to those sensors as on the API endpoints. The page shows
//! the flow's summary, its transcript in CapMe's layout and a download link to
//! `/api/v1/pcap` with the same query; `xscript=pcap` (CapMe's "pcap only") returns the capture
//! itself. No script: HTML and inline CSS, every value escaped.

use crate::fanout::Source;
use crate::peer::forward_query;
use crate::{pcap_fan, pcap_of, transcript_fan, ApiError, App, Resolved};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use capme_core::transcript::{Style, TranscriptOptions, DEFAULT_MAXTX};
use capme_core::{Layer, QuerySpec, Summary, Timestamp, Transcript};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// `&`, `<`, `>`, `"` and `'` as entities.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o += "&amp;",
            '<' => o += "&lt;",
            '>' => o += "&gt;",
            '"' => o += "&quot;",
            '\'' => o += "&#39;",
            c => o.push(c),
        }
    }
    o
}

/// The parameters of CapMe's that the download link carries on (and every `sensor`).
const LINK_PARAMS: [&str; 8] = [
    "sip", "spt", "dip", "dpt", "proto", "stime", "etime", "layer",
];

pub(crate) async fn capme(State(app): State<Arc<App>>, RawQuery(raw): RawQuery) -> Response {
    match page(app, raw.unwrap_or_default()).await {
        Ok(r) => r,
        Err(e) => error_page(&e),
    }
}

async fn page(app: Arc<App>, raw: String) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw)
        .map_err(|e| ApiError::invalid("query", format!("invalid query string: {e}")))?;
    let one = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // `sensor` (repeatable) restricts the page, its capture and its download link to those
    // sensors, as on the API endpoints.
    let sensors: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "sensor")
        .map(|(_, v)| v.clone())
        .collect();
    let xscript = one("xscript");
    let maxtx = match one("maxtx") {
        Some(n) => capme_core::store::limits::parse_count("maxtx", &n)?,
        None => DEFAULT_MAXTX,
    };
    // The core's CapMe URL parser: the same checks as `capme extract --url`.
    // (`sensor` is the server's, repeatable: the URL parser, which refuses a parameter given
    // twice with different values, does not see it.)
    let url = if sensors.is_empty() {
        format!("index.php?{raw}")
    } else {
        let rest: Vec<&(String, String)> = pairs.iter().filter(|(n, _)| n != "sensor").collect();
        format!(
            "index.php?{}",
            serde_urlencoded::to_string(rest).unwrap_or_default()
        )
    };
    // `layer` (the server's, as on the API endpoints; the URL parser ignores it).
    let layer = match one("layer") {
        Some(l) => Layer::parse("layer", &l)?,
        None => Layer::Any,
    };
    let a = app.clone();
    let query = crate::blocking(move || {
        Ok(QuerySpec {
            url: Some(&url),
            ..Default::default()
        }
        .parse()?
        .with_layer(layer))
    })
    .await?;
    app.metrics.pivots.fetch_add(1, Ordering::Relaxed);
    // The download link carries the flow's parameters and every `sensor`.
    let link: Vec<(&str, String)> = LINK_PARAMS
        .iter()
        .filter_map(|k| one(k).map(|v| (*k, v)))
        .chain(sensors.iter().map(|v| ("sensor", v.clone())))
        .collect();
    let link_query = serde_urlencoded::to_string(&link).unwrap_or_default();
    // Which sources answer, as on the API endpoints: without peers, the local store (restricted
    // to the `sensor`s named); with peers, a `sensor` naming a peer selects it, the others select
    // local sensors, and no `sensor` selects the local store and every peer.
    let (peers, local) = app.route(&Default::default(), sensors)?;
    let store = app
        .store
        .clone()
        .with_sensors(local.clone().unwrap_or_default());
    let fan = (!peers.is_empty()).then(|| {
        let mut sources = Vec::new();
        if local.is_some() {
            sources.push(Source::Local(store.clone()));
        }
        sources.extend(peers);
        (sources, forward_query(&link_query, &LINK_PARAMS))
    });
    let resolved = || Resolved {
        store: store.clone(),
        query: query.clone(),
        warning: None,
    };
    match xscript.as_deref() {
        Some("pcap") => {
            return match fan {
                Some((sources, fwd)) => pcap_fan(a, resolved(), sources, fwd).await,
                None => pcap_of(a, store, query).await,
            }
        }
        None | Some("" | "auto" | "tcpflow" | "bro" | "zeek") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                "xscript",
                format!("invalid xscript {other:?}: give pcap, or leave it out for the transcript"),
            ))
        }
    }
    let opts = TranscriptOptions::new().style(Style::Capme).maxtx(maxtx)?;
    let link = format!("/api/v1/pcap?{link_query}");
    if let Some((sources, fwd)) = fan {
        let (sum, t) = transcript_fan(&app, resolved(), sources, fwd, opts).await?;
        let html = render(&query.to_string(), &sum, &t, &link);
        return Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response());
    }
    let (t, shared) = app.transcript_of(&store, &query, opts).await;
    if shared {
        app.metrics.shared.fetch_add(1, Ordering::Relaxed);
    }
    let t = t?;
    let (sum, t) = &*t;
    let html = render(&query.to_string(), sum, t, &link);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;\
margin:0;background:#f4f5f7;color:#1d2430}\
header{background:#1f3a5f;color:#fff;padding:.8em 1.5em}header h1{margin:0;font-size:1.25em}\
main{padding:1em 1.5em;max-width:1200px}\
table{border-collapse:collapse;background:#fff;margin:.5em 0 1em;box-shadow:0 1px 2px #0002}\
th,td{text-align:left;padding:.3em .9em;border-bottom:1px solid #e3e6ea}th{color:#56607a;font-weight:600;white-space:nowrap}\
a.button{display:inline-block;background:#2d6cdf;color:#fff;padding:.5em 1.1em;border-radius:4px;\
text-decoration:none;font-weight:600}a.button:hover{background:#1f56b8}\
pre{background:#fff;border:1px solid #dde1e6;padding:1em;overflow:auto;white-space:pre-wrap;\
word-break:break-all;font:13px/1.4 ui-monospace,Menlo,Consolas,monospace}\
.warn{background:#fff6dd;border-left:4px solid #e0a800;padding:.4em .8em;margin:.3em 0}\
.error{background:#fde8e8;border-left:4px solid #d33;padding:.6em 1em}";

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\
         <header><h1>capme: {}</h1></header><main>",
        escape(title),
        escape(title)
    )
}

fn when(ns: Option<i64>) -> String {
    ns.map(|n| Timestamp(n).to_rfc3339()).unwrap_or_default()
}

fn render(flow: &str, s: &Summary, t: &Transcript, link: &str) -> String {
    // The heading: the connection as found (the query, with its window, is in the table).
    let title = match (t.proto, t.src, t.dst) {
        (Some(p), Some(src), Some(dst)) => format!("{p} {src} <-> {dst}"),
        _ => flow.to_string(),
    };
    let mut o = head(&title);
    let mut rows = String::new();
    let mut add = |k: &str, v: String| {
        let _ = write!(
            rows,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            escape(&v)
        );
    };
    add("Flow", flow.to_string());
    if let (Some(src), Some(dst)) = (t.src, t.dst) {
        add("Source", src.to_string());
        add("Destination", dst.to_string());
    }
    if let Some(p) = t.proto {
        add("Protocol", p.to_string());
    }
    add("Packets", s.packets.to_string());
    add("Bytes", s.bytes.to_string());
    add("First packet", when(s.first_ts_ns));
    add("Last packet", when(s.last_ts_ns));
    if let Some(c) = &s.community_id {
        add("Community ID", c.clone());
    }
    if let Some(sensor) = &t.sensor {
        add("Sensor", sensor.clone());
    }
    add(
        "Files read",
        format!(
            "{} scanned, {} through their index ({} bytes)",
            s.files_scanned, s.files_indexed, s.bytes_read
        ),
    );
    add(
        "Transcript",
        format!(
            "{} bytes from source, {} from destination{}",
            t.src_bytes,
            t.dst_bytes,
            if t.truncated {
                " (truncated at maxtx)"
            } else {
                ""
            }
        ),
    );
    let _ = write!(
        o,
        "<table>{rows}</table><p><a class=\"button\" href=\"{}\" download>Download pcap</a></p>",
        escape(link)
    );
    for w in s.warning_messages.iter().chain(&t.notes) {
        let _ = write!(o, "<div class=\"warn\">{}</div>", escape(w));
    }
    let _ = write!(o, "<h2>Transcript</h2><pre>{}</pre>", escape(&t.text));
    o += "</main></body></html>\n";
    o
}

fn error_page(e: &ApiError) -> Response {
    let mut o = head("error");
    let _ = writeln!(
        o,
        "<div class=\"error\"><strong>{}</strong>{}: {}</div></main></body></html>",
        e.status.as_u16(),
        e.field
            .as_deref()
            .map(|f| format!(" ({})", escape(f)))
            .unwrap_or_default(),
        escape(&e.error)
    );
    let status = if e.status == StatusCode::OK {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        e.status
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        o,
    )
        .into_response()
}
