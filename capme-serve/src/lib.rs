//! `capme serve`: one long-lived process answering flow queries over HTTP(S).
//!
//! The [`Store`] (with its catalogue and index views) is opened once and kept; every search
//! runs on tokio's blocking pool (capme-core knows nothing of tokio) and a capture is streamed
//! to the client through a bounded channel as it is found ([`stream`]). Concurrent identical
//! requests share one extraction ([`flight`]); with an archive, captures are served from its
//! verified cache. Every request passes one authentication call ([`auth::Authenticator`]) and a
//! per-user concurrency limit, and leaves one log line on stderr.
//!
//! ```no_run
//! use capme_serve::{auth::AllowLoopback, ServeConfig};
//! let store = capme_core::Store::open(["/nsm/sensor_data"])?;
//! let config = ServeConfig::new(store, "127.0.0.1:8080".parse().unwrap(), AllowLoopback);
//! capme_serve::run(config)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
mod fanout;
pub mod flight;
pub mod metrics;
mod page;
pub mod peer;
pub mod remote;
pub mod stream;
pub mod watch;

use auth::Authenticator;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use capme_core::extract::{MatchedLayer, WHOLE_FLOW_STEP};
use capme_core::sink::archive::archive_name;
use capme_core::transcript::{Style, TranscriptBuilder, TranscriptOptions};
use capme_core::{Error, ErrorKind, Packet, Query, QuerySpec, Sink, Store, Summary, TimeWindow};
use capme_core::{Layer, Result as CoreResult, Transcript};
use fanout::{Outcome, Source};
use flight::Flights;
use metrics::Metrics;
use peer::{forward_query, Peer, Peers};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stream::{ChannelSink, Msg};

/// Where the server's TLS certificate chain and key are (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Everything the server needs. The store comes configured (limits, threads, index directory,
/// catalogue), as the CLI's options build it.
pub struct ServeConfig {
    /// The store, kept open between requests.
    pub store: Store,
    /// Where `zeek_uid` queries look for conn logs (`--zeek-logs`); without it they are 400.
    pub zeek_logs: Option<PathBuf>,
    /// An archive (`--archive`): captures are extracted into it once and streamed from its
    /// verified cache; concurrent identical requests wait for one extraction.
    pub archive: Option<PathBuf>,
    /// The address to listen on (port 0: any free port; see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// TLS (rustls); plain HTTP without it.
    pub tls: Option<TlsFiles>,
    /// Who may ask.
    pub auth: Arc<dyn Authenticator>,
    /// Requests one user may have running at once (a streaming response counts until its
    /// last byte); more are refused with 429.
    pub max_concurrent: usize,
    /// Log one line per request on stderr.
    pub log: bool,
    /// Other servers this one also answers for (`--peer NAME=URL`, credentials set): a query
    /// with `sensor=NAME` is proxied to peer NAME, one without `sensor` goes to every peer
    /// and the local store and their answers are merged (see the README, "Many sensors").
    pub peers: Vec<Peer>,
    /// How long a peer may stay silent (connecting, or between two reads) before it counts
    /// as failed ([`peer::DEFAULT_TIMEOUT`]).
    pub peer_timeout: Duration,
    /// Trust only the certificates of this PEM file for `https` peers (default: the Mozilla
    /// roots).
    pub peer_ca: Option<PathBuf>,
    /// A pause before every extraction: zero, except in tests that need requests to overlap.
    #[doc(hidden)]
    pub extraction_delay: Duration,
    /// Keep the store's directory listings between requests, kept current with inotify
    /// ([`watch`]); on by default. Off, or when inotify is not available, every request lists
    /// the store as `capme extract` does (with the catalogue).
    pub watch: bool,
    /// A streamed extraction waits (30 s at most) until this many requests share it: zero,
    /// except in tests of single flight that need a known number of sharers.
    #[doc(hidden)]
    pub flight_quorum: usize,
}

impl ServeConfig {
    /// A configuration with the defaults: no Zeek logs, no archive, no TLS, 4 concurrent
    /// requests per user, request logs on.
    pub fn new(store: Store, listen: SocketAddr, auth: impl Authenticator) -> ServeConfig {
        ServeConfig {
            store,
            zeek_logs: None,
            archive: None,
            listen,
            tls: None,
            auth: Arc::new(auth),
            max_concurrent: 4,
            log: true,
            peers: Vec::new(),
            peer_timeout: peer::DEFAULT_TIMEOUT,
            peer_ca: None,
            extraction_delay: Duration::ZERO,
            flight_quorum: 0,
            watch: true,
        }
    }
}

type Shared<T> = Result<Arc<T>, ApiError>;

/// The state every handler shares.
struct App {
    store: Store,
    zeek_logs: Option<PathBuf>,
    archive: Option<PathBuf>,
    auth: Arc<dyn Authenticator>,
    max_concurrent: usize,
    log: bool,
    delay: Duration,
    quorum: usize,
    metrics: Metrics,
    running: Mutex<HashMap<String, usize>>,
    summaries: Flights<Shared<Summary>>,
    transcripts: Flights<Shared<(Summary, Transcript)>>,
    archives: Flights<Shared<Summary>>,
    /// `None` without `--peer`.
    peers: Option<Peers>,
    streams: flight::Streams<Msg>,
    /// The inotify watch keeping the store's listing cache current, while it runs.
    _watch: Option<watch::StoreWatch>,
}

/// An error response: `{"error": ..., "kind": ..., "field": ...}` with its status.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    kind: &'static str,
    field: Option<String>,
    challenge: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            kind,
            field: None,
            challenge: None,
        }
    }

    fn invalid(field: &str, error: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid", error)
        }
    }

    fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.error, "kind": self.kind, "field": self.field})
    }
}

/// The status of a capme-core error: 400 invalid input, 413 over a limit of the server
/// (`window` over `--max-window`, a first packet over `--max-bytes`), 404 nothing matched (or
/// a Zeek uid in no log), 503 cancelled, 500 a store, I/O or format error.
impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::from(&e)
    }
}

/// As `From<Error>`.
impl From<&Error> for ApiError {
    fn from(e: &Error) -> ApiError {
        let field = match e {
            // The parameter's name (the core says `community-id` as the CLI's flag).
            Error::InvalidQuery { field, .. } => Some(field.replace('-', "_")),
            _ => None,
        };
        let status = match e.kind() {
            ErrorKind::InvalidQuery if matches!(field.as_deref(), Some("window" | "max_bytes")) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ErrorKind::InvalidQuery => StatusCode::BAD_REQUEST,
            ErrorKind::NoPackets => StatusCode::NOT_FOUND,
            ErrorKind::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Io | ErrorKind::Format | ErrorKind::Store => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError {
            field,
            ..ApiError::new(status, e.kind().as_str(), e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(c) = self.challenge.as_deref().and_then(|c| c.parse().ok()) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, c);
        }
        r
    }
}

/// The server, bound and ready to serve.
pub struct Server {
    listener: std::net::TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    router: Router,
    app: Arc<App>,
}

impl Server {
    /// Binds the listening socket and loads the TLS files.
    pub async fn bind(config: ServeConfig) -> std::io::Result<Server> {
        let tls = match &config.tls {
            Some(t) => {
                // One provider for the process (ring); a second install is harmless.
                let _ = rustls::crypto::ring::default_provider().install_default();
                Some(
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&t.cert, &t.key)
                        .await
                        .map_err(|e| {
                            std::io::Error::new(
                                e.kind(),
                                format!(
                                    "TLS certificate {} or key {}: {e}",
                                    t.cert.display(),
                                    t.key.display()
                                ),
                            )
                        })?,
                )
            }
            None => None,
        };
        if let Some(dir) = &config.archive {
            check_archive(&config.store, dir)?;
        }
        let peers = check_peers(&config)?;
        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(|e| std::io::Error::new(e.kind(), format!("listen {}: {e}", config.listen)))?;
        listener.set_nonblocking(true)?;
        let (watch, store) = match config.watch {
            true => match watch::StoreWatch::start(&config.store) {
                Some((w, s)) => (Some(w), s),
                None => (None, config.store),
            },
            false => (None, config.store),
        };
        let app = Arc::new(App {
            store,
            zeek_logs: config.zeek_logs,
            archive: config.archive,
            auth: config.auth,
            max_concurrent: config.max_concurrent.max(1),
            log: config.log,
            delay: config.extraction_delay,
            quorum: config.flight_quorum,
            metrics: Metrics::default(),
            running: Mutex::new(HashMap::new()),
            summaries: Flights::default(),
            transcripts: Flights::default(),
            archives: Flights::default(),
            peers,
            streams: flight::Streams::default(),
            _watch: watch,
        });
        let router = router(app.clone());
        Ok(Server {
            listener,
            tls,
            router,
            app,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Extractions run so far (a search of the store, not answered by another request or
    /// the archive's cache).
    pub fn extractions(&self) -> u64 {
        self.app.metrics.extractions_total()
    }

    /// Serves until `shutdown` completes, then lets running requests finish (10 s at most).
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // TCP_NODELAY: a small answer's last chunk must not wait for the client's delayed
        // ACK (Nagle), which cost 40 ms per small pcap on loopback.
        let nodelay = axum_server::accept::NoDelayAcceptor::new();
        match self.tls {
            Some(tls) => {
                axum_server::from_tcp(self.listener)
                    .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(nodelay))
                    .handle(handle)
                    .serve(service)
                    .await
            }
            None => {
                axum_server::from_tcp(self.listener)
                    .acceptor(nodelay)
                    .handle(handle)
                    .serve(service)
                    .await
            }
        }
    }
}

/// Refuses, at start-up rather than on every request, an archive directory that does not
/// exist or lies inside a store root (capme never writes into the captures it reads).
fn check_archive(store: &Store, dir: &std::path::Path) -> std::io::Result<()> {
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    let real = dir
        .canonicalize()
        .map_err(|e| bad(format!("archive {}: {e}", dir.display())))?;
    if !real.is_dir() {
        return Err(bad(format!("archive {}: not a directory", dir.display())));
    }
    for root in store.roots() {
        if let Ok(r) = root.canonicalize() {
            if real.starts_with(&r) {
                return Err(bad(format!(
                    "archive {} is inside store root {}; capme never writes into the captures \
                     it reads",
                    dir.display(),
                    root.display()
                )));
            }
        }
    }
    Ok(())
}

/// Refuses, at start-up, peers named twice or named as one of the local store's sensors (a
/// `sensor=NAME` must mean one thing), and builds their client.
fn check_peers(config: &ServeConfig) -> std::io::Result<Option<Peers>> {
    if config.peers.is_empty() {
        return Ok(None);
    }
    let bad = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
    let local = config
        .store
        .sensor_names()
        .map_err(|e| bad(format!("listing the local sensors: {e}")))?;
    for (i, p) in config.peers.iter().enumerate() {
        if config.peers[..i].iter().any(|q| q.name == p.name) {
            return Err(bad(format!("invalid peer {:?}: named twice", p.name)));
        }
        if local.contains(&p.name) {
            return Err(bad(format!(
                "invalid peer {:?}: the local store has a sensor of that name; give the peer \
                 another name",
                p.name
            )));
        }
    }
    let client = peer::Client::new(config.peer_timeout, config.peer_ca.as_deref()).map_err(bad)?;
    Ok(Some(Peers {
        list: config.peers.iter().cloned().map(Arc::new).collect(),
        client,
    }))
}

/// Serves `config` until Ctrl-C (SIGINT) or SIGTERM, on a runtime of its own.
pub fn run(config: ServeConfig) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tls = config.tls.is_some();
        let server = Server::bind(config).await?;
        eprintln!(
            "capme serve: listening on {}://{}",
            if tls { "https" } else { "http" },
            server.local_addr()?
        );
        server.serve(shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("capme serve: shutting down");
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/pcap", get(pcap))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/transcript", get(transcript))
        .route("/api/v1/files", get(files))
        .route("/capme/index.php", get(page::capme))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "notfound", "no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app)
}

// ---------------------------------------------------------------------------------------------
// The gate: authentication, the per-user limit, metrics and the request log.

/// One request's log line, printed when its response body is done (or dropped), its per-user
/// slot, released then, and its metrics (count and latency), taken when its body ends.
struct Finish {
    app: Arc<App>,
    endpoint: &'static str,
    /// The metrics were taken.
    observed: bool,
    user: String,
    line: String,
    status: u16,
    started: Instant,
    bytes: u64,
    failed: bool,
}

impl Finish {
    /// Counts the request and its latency once: when its body's end is reached (before the
    /// transport ends the response, so a client that has the whole body finds the request
    /// in /metrics), or when the body is dropped (a cut stream, a client gone, a body the
    /// transport knew the end of without asking).
    fn observe(&mut self) {
        if !self.observed {
            self.observed = true;
            self.app
                .metrics
                .request(self.endpoint, self.status, self.started.elapsed());
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.observe();
        if let Ok(mut r) = self.app.running.lock() {
            if let Some(n) = r.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    r.remove(&self.user);
                }
            }
        }
        if self.app.log {
            eprintln!(
                "{} status={} bytes={} ms={}{}",
                self.line,
                self.status,
                self.bytes,
                self.started.elapsed().as_millis(),
                if self.failed { " stream=cut" } else { "" }
            );
        }
    }
}

/// A response body that counts its bytes into a [`Finish`].
struct Counted {
    inner: Body,
    finish: Finish,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            std::task::Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.finish.bytes += d.len() as u64;
                }
                // The last frame of a body that knows its end (the transport will not ask
                // again): done, before the client can have it.
                if this.inner.is_end_stream() {
                    this.finish.observe();
                }
            }
            std::task::Poll::Ready(Some(Err(_))) => {
                this.finish.failed = true;
                this.finish.observe();
            }
            std::task::Poll::Ready(None) => this.finish.observe(),
            std::task::Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// What a request asked for, for the log: path and query (an HTTP/2 request's URI is absolute).
fn target(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default()
}

/// The endpoint's name for metrics (a fixed set: unknown paths are `other`).
fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/api/v1/pcap" => "pcap",
        "/api/v1/summary" => "summary",
        "/api/v1/transcript" => "transcript",
        "/api/v1/files" => "files",
        "/capme/index.php" => "capme",
        _ => "other",
    }
}

async fn gate(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let endpoint = endpoint_of(req.uri().path());
    let mut finish = Finish {
        app: app.clone(),
        endpoint,
        observed: false,
        user: String::new(),
        line: format!(
            "capme serve: {peer} user=- {} {:?}",
            req.method(),
            target(&req)
        ),
        status: 0,
        started,
        bytes: 0,
        failed: false,
    };
    let refused = if endpoint == "healthz" {
        None
    } else {
        // A password check costs tens of milliseconds (argon2, bcrypt): it runs on the
        // blocking pool, never on an async worker.
        let auth = app.auth.clone();
        let headers = req.headers().clone();
        let checked = tokio::task::spawn_blocking(move || auth.check(&headers, peer))
            .await
            .unwrap_or_else(|e| Err((500, format!("authentication failed: {e}"), None)));
        match checked {
            Ok(user) => {
                finish.line = format!(
                    "capme serve: {peer} user={user:?} {} {:?}",
                    req.method(),
                    target(&req)
                );
                let mut running = app.running.lock().unwrap_or_else(|p| p.into_inner());
                let n = running.entry(user.clone()).or_default();
                if *n >= app.max_concurrent {
                    Some(ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "limit",
                        format!(
                            "user {user} has {} requests running, the most allowed \
                             (--max-concurrent); retry when one is done",
                            *n
                        ),
                    ))
                } else {
                    *n += 1;
                    finish.user = user;
                    None
                }
            }
            Err((status, message, challenge)) => Some(ApiError {
                challenge,
                ..ApiError::new(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
                    "auth",
                    message,
                )
            }),
        }
    };
    let response = match refused {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    };
    // The metrics are taken when the body ends (see `Finish::observe`): a streamed capture's
    // latency is the time to its last byte, not to its headers.
    finish.status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Counted {
            inner: body,
            finish,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Parameters.

/// The parameters of every flow query, named as the CLI's flags.
pub(crate) const FLOW_PARAMS: [&str; 16] = [
    "sip",
    "spt",
    "dip",
    "dpt",
    "proto",
    "community_id",
    "url",
    "zeek_uid",
    "stime",
    "etime",
    "pad",
    "whole_flow",
    // The IP layer matched (`any`, `outer`, `inner`), as `capme extract --layer`.
    "layer",
    // Tunnel packets written as their innermost frame, as `capme extract --decapsulate`.
    "decapsulate",
    "sensor",
    // Answer from this server's store only, never from its peers (what peers are sent).
    "local",
];

/// The parameters the transcript endpoint takes besides [`FLOW_PARAMS`].
const TRANSCRIPT_PARAMS: [&str; 2] = ["style", "maxtx"];

/// The one parameter that may be repeated: each `sensor=NAME` adds a sensor (a comma is part
/// of a name, as on disk).
const REPEATABLE: &str = "sensor";

/// A query string decoded strictly: each parameter at most once, only the `allowed` ones.
fn params(raw: Option<&str>, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::invalid("query", format!("invalid query string: {e}")))?;
    let mut map = HashMap::new();
    for (k, v) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::invalid(
                &k,
                format!(
                    "unknown parameter {k:?}; this endpoint takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        if map.insert(k.clone(), v).is_some() && k != REPEATABLE {
            return Err(ApiError::invalid(
                &k,
                format!("parameter {k:?} given twice"),
            ));
        }
    }
    Ok(map)
}

/// Every `sensor` value of a query string, in order (the strict checks are [`params`]'s).
fn sensor_values(raw: Option<&str>) -> Vec<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == REPEATABLE)
        .map(|(_, v)| v)
        .collect()
}

/// A boolean parameter: absent, `0`/`false` no; empty, `1`/`true` yes.
fn flag(p: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match p.get(name).map(|s| s.as_str()) {
        None | Some("0" | "false") => Ok(false),
        Some("" | "1" | "true") => Ok(true),
        Some(v) => Err(ApiError::invalid(
            name,
            format!("invalid {name} {v:?}: give true or false (1 or 0)"),
        )),
    }
}

/// A query resolved from parameters: the store restricted to its `sensor`s, the query (grown
/// for `whole_flow`), its warnings.
pub(crate) struct Resolved {
    store: Store,
    query: Query,
    warning: Option<String>,
}

impl App {
    /// The query of `p` through the core's one parser ([`QuerySpec`]), grown when
    /// `whole_flow` asks. Blocking (a Zeek log lookup, growing searches).
    fn resolve(
        &self,
        p: &HashMap<String, String>,
        sensors: Vec<String>,
    ) -> Result<Resolved, ApiError> {
        let store = self.store.clone().with_sensors(sensors);
        let get = |k: &str| p.get(k).map(|s| s.as_str());
        if get("zeek_uid").is_some() && self.zeek_logs.is_none() {
            return Err(ApiError::invalid(
                "zeek_uid",
                "invalid zeek_uid: this server has no Zeek logs; start it with --zeek-logs DIR",
            ));
        }
        let spec = QuerySpec {
            sip: get("sip"),
            spt: get("spt"),
            dip: get("dip"),
            dpt: get("dpt"),
            proto: get("proto"),
            community_id: get("community_id"),
            url: get("url"),
            zeek_uid: get("zeek_uid"),
            zeek_logs: get("zeek_uid").and(self.zeek_logs.as_deref()),
            stime: get("stime"),
            etime: get("etime"),
            pad: get("pad"),
        };
        let mut query = spec.parse()?;
        if let Some(l) = get("layer") {
            query = query.with_layer(Layer::parse("layer", l)?);
        }
        query = query.with_decapsulate(flag(p, "decapsulate")?);
        if spec.url.is_some() || spec.zeek_uid.is_some() {
            self.metrics.pivots.fetch_add(1, Ordering::Relaxed);
        }
        if flag(p, "whole_flow")? {
            let grown = store.grow_window(&query, WHOLE_FLOW_STEP)?;
            let warning = grown.warning();
            return Ok(Resolved {
                store,
                query: grown.query,
                warning,
            });
        }
        Ok(Resolved {
            store,
            query,
            warning: None,
        })
    }

    fn pause(&self) {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
    }

    fn account(&self, s: &Summary) {
        self.metrics
            .files(s.files_scanned, s.files_indexed, s.bytes_read);
    }

    fn account_error(&self, e: &Error) {
        if let Error::NoPackets {
            files_scanned,
            files_indexed,
            bytes_read,
            ..
        } = e
        {
            self.metrics
                .files(*files_scanned, *files_indexed, *bytes_read);
        }
    }

    /// The summary of `q` on `store` (a search into a counting sink), shared with concurrent
    /// requests for the same sensors.
    async fn summary_of(self: &Arc<Self>, store: &Store, q: &Query) -> (Shared<Summary>, bool) {
        let app = self.clone();
        let query = q.clone();
        let store = store.clone();
        self.summaries
            .run(format!("{:?}|{q:?}", store.sensors()), || {
                blocking(move || {
                    app.pause();
                    app.metrics.extraction("summary");
                    let r = store.extract(&query, &mut Count);
                    match &r {
                        Ok(s) => app.account(s),
                        Err(e) => app.account_error(e),
                    }
                    r.map(Arc::new).map_err(ApiError::from)
                })
            })
            .await
    }

    /// The summary and transcript of `q` on `store`, shared with concurrent requests for the
    /// same sensors, style and cap.
    async fn transcript_of(
        self: &Arc<Self>,
        store: &Store,
        q: &Query,
        opts: TranscriptOptions,
    ) -> (Shared<(Summary, Transcript)>, bool) {
        let app = self.clone();
        let query = q.clone();
        let store = store.clone();
        self.transcripts
            .run(format!("{:?}|{q:?}|{opts:?}", store.sensors()), || {
                blocking(move || {
                    app.pause();
                    app.metrics.extraction("transcript");
                    let mut b = TranscriptBuilder::new(&opts);
                    // As the CLI's transcript: a tunnel packet as the layer its flow matched.
                    let r = store.extract(&query, &mut MatchedLayer::new(&mut b, &query));
                    match &r {
                        Ok(s) => app.account(s),
                        Err(e) => app.account_error(e),
                    }
                    let sum = r?;
                    let mut t = b.build();
                    t.warnings = sum.warning_messages.clone();
                    Ok(Arc::new((sum, t)))
                })
            })
            .await
    }
}

/// Runs blocking work on tokio's blocking pool; a panic there is a 500, never a crash.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the extraction failed: {e}"),
        ))
    })
}

/// A sink that only lets the summary count.
struct Count;

impl Sink for Count {
    fn packet(&mut self, _: &Packet) -> CoreResult<bool> {
        Ok(true)
    }
}

fn with_warning(mut s: Summary, w: Option<String>) -> Summary {
    if let Some(w) = w {
        s.warning_messages.push(w);
        s.warnings = s.warning_messages.len() as u64;
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Handlers.

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    let mut text = app.metrics.render();
    match app.store.listing_cache() {
        Some(c) => text += &metrics::listing_cache(c),
        None => text += metrics::NO_LISTING_CACHE,
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Who answers a query: the local store (the query resolved), one peer (proxied), or several
/// sources whose answers are merged.
enum Route {
    Local(Resolved),
    Proxy(Arc<Peer>),
    Fan {
        r: Resolved,
        sources: Vec<Source>,
        /// The query string the peers are sent.
        fwd: String,
    },
}

impl App {
    /// The route of a query with parameters `p` and `sensor`s: without peers, or with
    /// `local=1`, the local store; else each `sensor` that names a peer selects it and the
    /// others select local sensors; no `sensor` selects the local store and every peer.
    fn route(
        &self,
        p: &HashMap<String, String>,
        sensors: Vec<String>,
    ) -> Result<(Vec<Source>, Option<Vec<String>>), ApiError> {
        let Some(peers) = &self.peers else {
            return Ok((Vec::new(), Some(sensors)));
        };
        if flag(p, "local")? {
            return Ok((Vec::new(), Some(sensors)));
        }
        if sensors.is_empty() {
            let all = peers.list.iter().cloned().map(Source::Peer).collect();
            return Ok((all, Some(Vec::new())));
        }
        let mut chosen = Vec::new();
        let mut local = Vec::new();
        for s in sensors {
            match peers.get(&s) {
                Some(peer) => {
                    if !chosen
                        .iter()
                        .any(|c| matches!(c, Source::Peer(q) if Arc::ptr_eq(q, peer)))
                    {
                        chosen.push(Source::Peer(peer.clone()));
                    }
                }
                None => local.push(s),
            }
        }
        Ok((chosen, (!local.is_empty()).then_some(local)))
    }
}

async fn resolve(
    app: &Arc<App>,
    raw: Option<String>,
    extra: &[&str],
) -> Result<(Route, HashMap<String, String>), ApiError> {
    let allowed: Vec<&str> = FLOW_PARAMS.iter().chain(extra).copied().collect();
    let p = params(raw.as_deref(), &allowed)?;
    let (peers, local) = app.route(&p, sensor_values(raw.as_deref()))?;
    if let ([Source::Peer(peer)], None) = (peers.as_slice(), &local) {
        return Ok((Route::Proxy(peer.clone()), p));
    }
    let a = app.clone();
    let p2 = p.clone();
    let with_local = local.is_some();
    let r = blocking(move || a.resolve(&p2, local.unwrap_or_default())).await?;
    if peers.is_empty() {
        return Ok((Route::Local(r), p));
    }
    // A window over this server's limit is refused here, not by each source.
    r.store.check_window(&r.query.window)?;
    let mut sources = Vec::new();
    if with_local {
        sources.push(Source::Local(r.store.clone()));
    }
    sources.extend(peers);
    // Peers are asked for captures or summaries: the flow's parameters only.
    let fwd = forward_query(raw.as_deref().unwrap_or(""), &FLOW_PARAMS);
    Ok((Route::Fan { r, sources, fwd }, p))
}

/// The peers' client (only called on routes that have peers).
fn client(app: &App) -> Result<peer::Client, ApiError> {
    app.peers.as_ref().map(|p| p.client.clone()).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "a route to peers on a server without peers",
        )
    })
}

/// Adds one `x-capme-warning` header per warning (control characters replaced: a header
/// value is one line of visible text).
fn warning_headers(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let clean: String = w
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&clean) {
            resp.headers_mut().append("x-capme-warning", v);
        }
    }
}

/// Proxies a request to `peer`: its status, content type and body passed on as they come
/// (a peer's error JSON included). A peer that cannot be reached, or refuses this server's
/// credentials, is a 502 naming it.
async fn proxy(
    app: &Arc<App>,
    peer: Arc<Peer>,
    path: &'static str,
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let client = client(app)?;
    // Every parameter of any endpoint: a proxied request passes them all on; the peer checks.
    let all = [FLOW_PARAMS.as_slice(), &TRANSCRIPT_PARAMS].concat();
    let fwd = forward_query(raw.as_deref().unwrap_or(""), &all);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(stream::DEPTH);
    let p = peer.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let r = client.get(&p.url, path, &fwd, p.credential.as_ref());
        let resp = match r {
            Ok(resp) => resp,
            Err(f) => {
                let _ = head_tx.send(Err(f));
                return;
            }
        };
        let keep = [
            "content-type",
            "content-disposition",
            "content-length",
            "x-capme-truncated",
            "x-capme-packets",
        ];
        let mut headers: Vec<(String, String)> = keep
            .iter()
            .filter_map(|k| resp.header(k).map(|v| (k.to_string(), v.to_string())))
            .collect();
        for v in resp.all("x-capme-warning") {
            headers.push(("x-capme-warning".into(), v.to_string()));
        }
        if head_tx.send(Ok(headers)).is_err() {
            return;
        }
        let mut body = resp.into_reader();
        loop {
            let mut buf = vec![0u8; stream::CHUNK];
            match body.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ =
                        tx.blocking_send(Err(std::io::Error::other(format!("{}: {e}", p.label()))));
                    return;
                }
            }
        }
    });
    let head = head_rx.await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the proxy thread ended without an answer",
        )
    })?;
    let headers = match head {
        Ok(h) => h,
        Err(peer::Failure::Status {
            status: status @ (401 | 403),
            error,
            ..
        }) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "peer",
                format!(
                    "{} refused this server's credentials (HTTP {status}: {error}); see \
                     --peer-credentials",
                    peer.label()
                ),
            ))
        }
        Err(peer::Failure::Status {
            status,
            body,
            content_type,
            ..
        }) => {
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            return Ok(resp);
        }
        Err(peer::Failure::Transport(e)) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "peer",
                format!("{}: {e}", peer.label()),
            ))
        }
    };
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut resp = Response::new(Body::from_stream(body));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    Ok(resp)
}

/// The summary of a fanned-out query: the local store's and each peer's `/api/v1/summary`,
/// asked at once, summed.
async fn summary_fan(
    app: &Arc<App>,
    r: &Resolved,
    sources: Vec<Source>,
    fwd: String,
) -> Result<Summary, ApiError> {
    let started = Instant::now();
    let client = client(app)?;
    let mut tasks = Vec::new();
    for s in &sources {
        if let Source::Peer(p) = s {
            let (p, fwd, client) = (p.clone(), fwd.clone(), client.clone());
            tasks.push(Some(tokio::task::spawn_blocking(move || {
                peer_summary(&client, &p, &fwd)
            })));
        } else {
            tasks.push(None);
        }
    }
    let mut parts = Vec::new();
    for (s, task) in sources.into_iter().zip(tasks) {
        let outcome = match (&s, task) {
            (_, Some(t)) => t.await.unwrap_or_else(|e| {
                Outcome::Failed(format!("{}: the request failed: {e}", s.label()))
            }),
            (Source::Local(store), None) => {
                // Not through the single flight: an empty local answer keeps its warnings
                // (damage that may explain the absence), which an ApiError would drop.
                let (a, store, q) = (app.clone(), store.clone(), r.query.clone());
                let res = blocking(move || {
                    a.metrics.extraction("summary");
                    let res = store.extract(&q, &mut Count);
                    match &res {
                        Ok(s) => a.account(s),
                        Err(e) => a.account_error(e),
                    }
                    // A bad query is the request's error, whoever else answers.
                    match res {
                        Err(e) if e.kind() == ErrorKind::InvalidQuery => Err(e.into()),
                        res => Ok(fanout::local_outcome(res)),
                    }
                })
                .await;
                res?
            }
            (Source::Peer(p), None) => Outcome::Failed(p.label()),
        };
        parts.push((s, outcome));
    }
    fanout::combine(&r.query, parts, started)
}

/// A peer's summary of a query, as an outcome.
fn peer_summary(client: &peer::Client, p: &Peer, fwd: &str) -> Outcome {
    use std::io::Read;
    match client.get(&p.url, "/api/v1/summary", fwd, p.credential.as_ref()) {
        Ok(resp) => {
            let mut body = Vec::new();
            let read = resp
                .into_reader()
                .take(16 << 20)
                .read_to_end(&mut body)
                .map_err(|e| e.to_string());
            match read.and_then(|_| {
                serde_json::from_slice::<serde_json::Value>(&body).map_err(|e| e.to_string())
            }) {
                Ok(v) => Outcome::Done(Box::new(fanout::summary_of_json(&v))),
                Err(e) => Outcome::Failed(format!("{}: unreadable summary: {e}", p.label())),
            }
        }
        Err(f) => fanout::peer_failure(p, f),
    }
}

async fn summary(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (route, _) = resolve(&app, raw.clone(), &[]).await?;
    let r = match route {
        Route::Local(r) => r,
        Route::Proxy(peer) => return proxy(&app, peer, "/api/v1/summary", raw).await,
        Route::Fan { r, sources, fwd } => {
            let s = summary_fan(&app, &r, sources, fwd).await?;
            return Ok(axum::Json(with_warning(s, r.warning)).into_response());
        }
    };
    let (s, shared) = app.summary_of(&r.store, &r.query).await;
    if shared {
        app.metrics.shared.fetch_add(1, Ordering::Relaxed);
    }
    let s = with_warning((*s?).clone(), r.warning);
    Ok(axum::Json(s).into_response())
}

fn transcript_options(
    p: &HashMap<String, String>,
    default: Style,
) -> Result<TranscriptOptions, ApiError> {
    let style = match p.get("style") {
        Some(s) => Style::parse("style", s)?,
        None => default,
    };
    let mut opts = TranscriptOptions::new().style(style);
    if let Some(n) = p.get("maxtx") {
        opts = opts.maxtx(capme_core::store::limits::parse_count("maxtx", n)?)?;
    }
    Ok(opts)
}

async fn transcript(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let allowed = [FLOW_PARAMS.as_slice(), &TRANSCRIPT_PARAMS].concat();
    let p = params(raw.as_deref(), &allowed)?;
    let opts = transcript_options(&p, Style::Plain)?;
    let style = opts.style;
    let (route, _) = resolve(&app, raw.clone(), &["style", "maxtx"]).await?;
    let r = match route {
        Route::Local(r) => r,
        Route::Proxy(peer) => return proxy(&app, peer, "/api/v1/transcript", raw).await,
        Route::Fan { r, sources, fwd } => {
            let (_, t) = transcript_fan(&app, r, sources, fwd, opts).await?;
            let mut resp = transcript_response(&t, style);
            warning_headers(&mut resp, &t.warnings);
            return Ok(resp);
        }
    };
    let (t, shared) = app.transcript_of(&r.store, &r.query, opts).await;
    if shared {
        app.metrics.shared.fetch_add(1, Ordering::Relaxed);
    }
    let t = t?;
    let (_, t) = &*t;
    Ok(transcript_response(t, style))
}

/// The transcript of a fanned-out query: the merged packets of every source into one
/// transcript builder; its warnings are the merge's.
pub(crate) async fn transcript_fan(
    app: &Arc<App>,
    r: Resolved,
    sources: Vec<Source>,
    fwd: String,
    opts: TranscriptOptions,
) -> Result<(Summary, Transcript), ApiError> {
    let client = client(app)?;
    let limits = r.store.limits();
    blocking(move || {
        let mut b = TranscriptBuilder::new(&opts);
        let m = fanout::merge_into(
            &sources,
            &r.query,
            &fwd,
            &client,
            limits,
            &mut MatchedLayer::new(&mut b, &r.query),
            &mut |_| {},
        )?;
        let mut t = b.build();
        let sum = with_warning(m.summary, r.warning);
        t.warnings = sum.warning_messages.clone();
        Ok((sum, t))
    })
    .await
}

/// A transcript's response: its text, `x-capme-truncated` and `x-capme-packets`.
fn transcript_response(t: &Transcript, style: Style) -> Response {
    let mut resp = Response::new(Body::from(t.text.clone()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if style == Style::Json {
            "application/x-ndjson"
        } else {
            "text/plain; charset=utf-8"
        }),
    );
    h.insert(
        "x-capme-truncated",
        HeaderValue::from_static(if t.truncated { "true" } else { "false" }),
    );
    h.insert("x-capme-packets", HeaderValue::from(t.packets));
    resp
}

async fn files(State(app): State<Arc<App>>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let p = params(raw.as_deref(), &["stime", "etime", REPEATABLE, "local"])?;
    let (peers, local) = app.route(&p, sensor_values(raw.as_deref()))?;
    if let ([Source::Peer(peer)], None) = (peers.as_slice(), &local) {
        return proxy(&app, peer.clone(), "/api/v1/files", raw).await;
    }
    let stime = p.get("stime").ok_or_else(|| {
        ApiError::invalid("stime", "invalid stime \"\": required: the window's start")
    })?;
    let etime = p.get("etime").ok_or_else(|| {
        ApiError::invalid("etime", "invalid etime \"\": required: the window's end")
    })?;
    let window = TimeWindow::parse(stime, etime)?;
    // Peers' lists come after the local one, each file with "peer": its peer's name.
    let fwd = forward_query(raw.as_deref().unwrap_or(""), &["stime", "etime"]);
    let mut tasks = Vec::new();
    for s in &peers {
        if let Source::Peer(peer) = s {
            let (peer, fwd, client) = (peer.clone(), fwd.clone(), client(&app)?);
            tasks.push(tokio::task::spawn_blocking(move || {
                peer_files(&client, &peer, &fwd)
            }));
        }
    }
    let mut v = match local {
        Some(sensors) => local_files(app.store.clone().with_sensors(sensors), window).await?,
        None => Vec::new(),
    };
    let mut warnings = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(files)) => v.extend(files),
            Ok(Err(w)) => warnings.push(w),
            Err(e) => warnings.push(format!("a peer's file list failed: {e}")),
        }
    }
    let mut resp = axum::Json(v).into_response();
    warning_headers(&mut resp, &warnings);
    Ok(resp)
}

/// A peer's file list, each file with `"peer": NAME`; an error names the peer.
fn peer_files(
    client: &peer::Client,
    p: &Peer,
    fwd: &str,
) -> Result<Vec<serde_json::Value>, String> {
    use std::io::Read;
    let resp = client
        .get(&p.url, "/api/v1/files", fwd, p.credential.as_ref())
        .map_err(|f| format!("{}: {f}", p.label()))?;
    let mut body = Vec::new();
    resp.into_reader()
        .take(64 << 20)
        .read_to_end(&mut body)
        .map_err(|e| format!("{}: {e}", p.label()))?;
    let list: Vec<serde_json::Value> = serde_json::from_slice(&body)
        .map_err(|e| format!("{}: unreadable list: {e}", p.label()))?;
    Ok(list
        .into_iter()
        .map(|mut f| {
            if let Some(o) = f.as_object_mut() {
                o.insert("peer".into(), p.name.clone().into());
            }
            f
        })
        .collect())
}

/// The local store's capture files of `window`.
async fn local_files(store: Store, window: TimeWindow) -> Result<Vec<serde_json::Value>, ApiError> {
    blocking(move || {
        let plan = store.plan(&window)?;
        Ok(plan
            .files()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "sensor": &*f.sensor,
                    "start": f.start.as_secs_f64(),
                    "start_ns": f.start.as_nanos(),
                    "end": f.end.map(|e| e.as_secs_f64()),
                    "end_ns": f.end.map(|e| e.as_nanos()),
                    "size": f.size,
                })
            })
            .collect::<Vec<_>>())
    })
    .await
}

async fn pcap(State(app): State<Arc<App>>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let (route, _) = resolve(&app, raw.clone(), &[]).await?;
    match route {
        Route::Local(r) => pcap_of(app, r.store, r.query).await,
        Route::Proxy(peer) => proxy(&app, peer, "/api/v1/pcap", raw).await,
        Route::Fan { r, sources, fwd } => pcap_fan(app, r, sources, fwd).await,
    }
}

/// The capture of a fanned-out query: every source's packets merged by timestamp and
/// streamed as found (never through the archive). Sources that failed before the first
/// packet are named in `x-capme-warning` headers.
pub(crate) async fn pcap_fan(
    app: Arc<App>,
    r: Resolved,
    sources: Vec<Source>,
    fwd: String,
) -> Result<Response, ApiError> {
    let name = archive_name(&r.query);
    let client = client(&app)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(stream::DEPTH);
    let early = Arc::new(Mutex::new(r.warning.iter().cloned().collect::<Vec<_>>()));
    let failure: Arc<Mutex<Option<ApiError>>> = Arc::default();
    let (early2, failure2) = (early.clone(), failure.clone());
    let a = app.clone();
    tokio::task::spawn_blocking(move || {
        a.metrics.extraction("pcap");
        // The peers' formats are not known before their streams begin: a result too large to
        // be held back is streamed as pcapng, which takes every link type and precision.
        let fan = Arc::new(flight::Fanout::new(tx));
        let mut sink = ChannelSink::new(fan.clone(), stream::Layout::Pcapng);
        let limits = r.store.limits();
        let m = fanout::merge_into(
            &sources,
            &r.query,
            &fwd,
            &client,
            limits,
            &mut sink,
            &mut |w| {
                if let Ok(mut e) = early2.lock() {
                    e.extend(w.iter().cloned());
                }
            },
        );
        let done = match m {
            Ok(m) => {
                if a.log {
                    for w in &m.summary.warning_messages {
                        eprintln!("capme serve: warning: {w}");
                    }
                }
                Ok(m.summary)
            }
            Err(e) => {
                let msg = e.error.clone();
                if let Ok(mut f) = failure2.lock() {
                    *f = Some(e);
                }
                Err(Error::io("<peers>", std::io::Error::other(msg)))
            }
        };
        fan.blocking_send(Msg::Done(Arc::new(done)));
        fan.end();
    });
    let first = match rx.recv().await {
        Some(Msg::Data(b)) => b,
        Some(Msg::Done(done)) if done.is_err() => {
            let f = failure.lock().ok().and_then(|mut f| f.take());
            let Err(e) = &*done else { unreachable!() };
            return Err(f.unwrap_or_else(|| e.into()));
        }
        Some(Msg::Done(_)) | None => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the merge ended without a result",
            ))
        }
    };
    let mut resp = pcap_response(stream_rest(first, rx), &name, None);
    let warnings = early.lock().map(|w| w.clone()).unwrap_or_default();
    warning_headers(&mut resp, &warnings);
    Ok(resp)
}

/// The capture of `query` on `store` (the server's store, perhaps restricted to sensors): from
/// the archive when the server has one, else streamed as found.
async fn pcap_of(app: Arc<App>, store: Store, query: Query) -> Result<Response, ApiError> {
    let name = archive_name(&query);
    // An archive keeps packets as captured (the core refuses a decapsulating query there):
    // a decapsulated capture is streamed, never archived, so that neither is served for the
    // other (the single-flight key below holds the whole query, decapsulation included).
    if app.archive.is_some() && !query.decapsulate {
        return archived(app, store, query, name).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(stream::DEPTH);
    // Single flight: join the identical extraction in flight while it has sent nothing yet,
    // else run one (see `flight::Fanout` for who may join and how a slow client is handled).
    let key = format!("{:?}|{query:?}", store.sensors());
    match app.streams.join_or_lead(&key, tx) {
        None => {
            app.metrics.shared.fetch_add(1, Ordering::Relaxed);
        }
        Some(fan) => {
            let a = app.clone();
            tokio::task::spawn_blocking(move || {
                // Whatever happens (a panic too), the sharers' channels end and the key goes.
                let _end = EndFlight {
                    app: a.clone(),
                    key,
                    fan: fan.clone(),
                };
                a.pause();
                let waiting = Instant::now();
                while fan.sharers() < a.quorum && waiting.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                a.metrics.extraction("pcap");
                let r = stream_extract(&store, &query, fan.clone());
                match &r {
                    Ok(s) => a.account(s),
                    Err(e) => a.account_error(e),
                }
                fan.blocking_send(Msg::Done(Arc::new(r)));
            });
        }
    }
    // Nothing is committed before the first bytes or the end: "no packets" is still a 404.
    let first = match rx.recv().await {
        Some(Msg::Data(b)) => b,
        Some(Msg::Done(r)) if r.is_err() => {
            let Err(e) = &*r else { unreachable!() };
            return Err(e.into());
        }
        // An extraction ends in data or an error; without either its thread died.
        Some(Msg::Done(_)) | None => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the extraction ended without a result",
            ))
        }
    };
    Ok(pcap_response(stream_rest(first, rx), &name, None))
}

/// The body of a streamed capture: `first`, then the channel's chunks; a late error cuts it.
fn stream_rest(first: Bytes, rx: tokio::sync::mpsc::Receiver<Msg>) -> Body {
    let body = futures_util::stream::unfold(
        (Some(first), rx, false),
        |(first, mut rx, done)| async move {
            if let Some(b) = first {
                return Some((Ok(b), (None, rx, done)));
            }
            if done {
                return None;
            }
            match rx.recv().await {
                Some(Msg::Data(b)) => Some((Ok(b), (None, rx, false))),
                // A late error cuts the response short (no final chunk): the client sees an
                // incomplete transfer, the log says stream=cut.
                Some(Msg::Done(r)) => match &*r {
                    Err(e) => Some((Err(std::io::Error::other(e.to_string())), (None, rx, true))),
                    Ok(_) => None,
                },
                // The extraction's thread died without its end: an incomplete transfer.
                None => Some((
                    Err(std::io::Error::other(
                        "the extraction ended without a result",
                    )),
                    (None, rx, true),
                )),
            }
        },
    );
    Body::from_stream(body)
}

/// The streamed extraction of `query`: planned, the plan's headers read for the format
/// ([`stream::Layout`]), then exactly that plan searched into the fan-out.
fn stream_extract(store: &Store, query: &Query, fan: stream::Out) -> CoreResult<Summary> {
    store.check_window(&query.window)?;
    let plan = store.plan(&query.window)?;
    // Decapsulated packets may be of another link type than their files (raw IP from GRE or
    // IP in IP): the files' headers say nothing of them, so a large result streams pcapng.
    let layout = if query.decapsulate {
        stream::Layout::Pcapng
    } else {
        stream::Layout::of_plan(&plan)
    };
    let mut sink = ChannelSink::new(fan, layout);
    store.extract_planned(plan, query, &mut sink)
}

/// Ends a streamed extraction's flight when dropped.
struct EndFlight {
    app: Arc<App>,
    key: String,
    fan: stream::Out,
}

impl Drop for EndFlight {
    fn drop(&mut self) {
        self.fan.end();
        self.app.streams.done(&self.key, &self.fan);
    }
}

fn pcap_response(body: Body, name: &str, len: Option<u64>) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.tcpdump.pcap"),
    );
    // The archive name holds only [A-Za-z0-9._-] and digits: safe in a quoted filename.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(n) = len {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    resp
}

/// Through the archive: one extraction for concurrent identical requests (or none, when the
/// verified cache has it), then the archived file streamed.
async fn archived(
    app: Arc<App>,
    store: Store,
    query: Query,
    name: String,
) -> Result<Response, ApiError> {
    let a = app.clone();
    let q = query.clone();
    let (s, shared) = app
        .archives
        .run(format!("{:?}|{query:?}", store.sensors()), || {
            blocking(move || {
                let dir = a.archive.clone().unwrap_or_default();
                a.pause();
                let r = store.extract_to_archive(&q, &dir, false);
                match &r {
                    Ok(s) if s.cached => {
                        a.metrics.archive_hits.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(s) => {
                        a.metrics.extraction("archive");
                        a.account(s);
                    }
                    Err(e) => {
                        a.metrics.extraction("archive");
                        a.account_error(e);
                    }
                }
                r.map(Arc::new).map_err(ApiError::from)
            })
        })
        .await;
    if shared {
        app.metrics.shared.fetch_add(1, Ordering::Relaxed);
    }
    let s = s?;
    let path = s.output.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the archive names no file",
        )
    })?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::from(Error::io(&path, e)))?;
    let len = file.metadata().await.ok().map(|m| m.len());
    let body = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buf = vec![0u8; stream::CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or(name);
    Ok(pcap_response(Body::from_stream(body), &name, len))
}
