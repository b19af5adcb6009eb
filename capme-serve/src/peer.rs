//! Peers: the other `capme serve` instances a server also answers for (`--peer NAME=URL`),
//! and the HTTP(S) client that asks them (also the client of `capme extract --remote`).
//!
//! A peer is asked with the query string it was sent minus every `sensor`, plus `local=1`:
//! `local=1` makes a server answer from its own store only, so peers never fan out again and
//! a ring of peers cannot loop.
//!
//! The client is [`ureq`] (blocking, rustls with ring as the server, no OpenSSL): a peer's
//! pcap is a `Read` that capme-core's [`CaptureReader`](capme_core::capture::CaptureReader)
//! parses on a blocking thread, as it parses a file.

use base64::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a peer may stay silent by default (`--peer-timeout`): connecting, and then
/// between any two reads (the first byte of a pcap comes only once the peer has found up to
/// 1 MiB of packets or finished its search).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of an error response body read at most (its JSON message).
const ERROR_BODY_MAX: u64 = 64 << 10;

/// Credentials sent to a peer (a line of `--peer-credentials`).
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP basic: checked by the peer against its `--users` file.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer TOKEN`: checked by the peer against its `--tokens` file (made by
    /// `capme serve --tokens FILE --add-token NAME`), or by a reverse proxy in front of it.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { user, .. } => write!(f, "Basic({user}:***)"),
            Credential::Bearer(_) => write!(f, "Bearer(***)"),
        }
    }
}

impl Credential {
    /// The value of the `Authorization` header.
    pub fn header(&self) -> String {
        match self {
            Credential::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            Credential::Bearer(t) => format!("Bearer {t}"),
        }
    }
}

/// A peer: a name that queries use as `sensor=NAME`, the base URL of its `capme serve`, and
/// the credentials it is sent.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The name (`sensor=NAME` proxies to this peer).
    pub name: String,
    /// The base URL, without a trailing `/` (e.g. `https://sensor2:8443`, or a path prefix
    /// under a reverse proxy).
    pub url: String,
    /// Sent with every request, when set.
    pub credential: Option<Credential>,
}

impl Peer {
    /// Parses `NAME=URL` (the value of `--peer`): a name without whitespace, `=` or `,`, and
    /// an `http://` or `https://` URL. The error is the reason (the caller names the value).
    pub fn parse(arg: &str) -> Result<Peer, String> {
        let bad = |why: &str| why.to_string();
        let (name, url) = arg
            .split_once('=')
            .ok_or_else(|| bad("give NAME=URL, e.g. sensor2=https://sensor2:8443"))?;
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(bad("the name must be non-empty, without spaces or commas"));
        }
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(bad("the URL must begin with http:// or https://"));
        }
        if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
            return Err(bad(
                "the URL is a base (scheme, host, port, path), without ? or #",
            ));
        }
        let url = url.trim_end_matches('/').to_string();
        if url.len() <= "https://".len() - usize::from(lower.starts_with("http://")) {
            return Err(bad("the URL has no host"));
        }
        Ok(Peer {
            name: name.to_string(),
            url,
            credential: None,
        })
    }

    /// `peer NAME (URL)`: how messages name this peer.
    pub fn label(&self) -> String {
        format!("peer {} ({})", self.name, self.url)
    }
}

/// Reads a `--peer-credentials` file: one line per peer, `NAME basic USER:PASSWORD` or
/// `NAME bearer TOKEN` (fields separated by spaces or tabs; the password runs to the end of
/// the line and may hold `:`); blank lines and lines starting with `#` are skipped. Every
/// NAME must be one of `peers`, at most once. Errors name the file and line.
///
/// The second value is a warning when the file is readable by group or others.
pub fn read_credentials(
    path: &Path,
    peers: &[&str],
) -> Result<(HashMap<String, Credential>, Option<String>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("peer credentials {}: {e}", path.display()))?;
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let at = || format!("peer credentials {} line {}", path.display(), i + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = line.split_once([' ', '\t']).ok_or_else(|| {
            format!(
                "{}: give NAME basic USER:PASSWORD or NAME bearer TOKEN",
                at()
            )
        })?;
        let (scheme, secret) = rest
            .trim_start()
            .split_once([' ', '\t'])
            .map(|(s, v)| (s, v.trim()))
            .unwrap_or((rest.trim(), ""));
        if !peers.contains(&name) {
            return Err(format!(
                "{}: unknown peer {name:?}; the peers are {}",
                at(),
                if peers.is_empty() {
                    "none (give --peer NAME=URL)".to_string()
                } else {
                    peers.join(", ")
                }
            ));
        }
        let cred = match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let (user, password) = secret
                    .split_once(':')
                    .filter(|(u, _)| !u.is_empty())
                    .ok_or_else(|| format!("{}: basic needs USER:PASSWORD", at()))?;
                Credential::Basic {
                    user: user.to_string(),
                    password: password.to_string(),
                }
            }
            "bearer" if !secret.is_empty() && !secret.contains(char::is_whitespace) => {
                Credential::Bearer(secret.to_string())
            }
            "bearer" => return Err(format!("{}: bearer needs one TOKEN", at())),
            other => {
                return Err(format!(
                    "{}: unknown scheme {other:?}; give basic or bearer",
                    at()
                ))
            }
        };
        if out.insert(name.to_string(), cred).is_some() {
            return Err(format!("{}: peer {name:?} given twice", at()));
        }
    }
    Ok((out, others_may_read(path)))
}

#[cfg(unix)]
fn others_may_read(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "peer credentials {} can be read by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(not(unix))]
fn others_may_read(_: &Path) -> Option<String> {
    None
}

/// The query string a peer is sent for `raw`: its parameters named in `keep` but `sensor` and
/// `local`, then `local=1`.
pub fn forward_query(raw: &str, keep: &[&str]) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
    let mut kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| k != "sensor" && k != "local" && keep.contains(&k.as_str()))
        .collect();
    kept.push(("local".into(), "1".into()));
    serde_urlencoded::to_string(&kept).unwrap_or_default()
}

/// Why a request to a peer (or a `--remote` server) gave no answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// It answered with an error status; the fields of its JSON error when it sent one.
    Status {
        /// The HTTP status.
        status: u16,
        /// Its `kind` (`invalid`, `nopackets`, `auth`, ...), empty when not JSON.
        kind: String,
        /// Its `error` message (the body's start when not JSON).
        error: String,
        /// Its `field`, for a 400.
        field: Option<String>,
        /// The raw body (at most 64 KiB), to pass on as it was.
        body: Vec<u8>,
        /// Its content type.
        content_type: String,
    },
    /// No answer: refused, unreachable, timed out, TLS failed.
    Transport(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status { status, error, .. } => write!(f, "HTTP {status}: {error}"),
            Failure::Transport(e) => f.write_str(e),
        }
    }
}

/// The HTTP(S) client of peers and `--remote`: one connection pool, one timeout.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    /// A client that gives up on a server silent for `timeout` (connecting, or between two
    /// reads). HTTPS servers are verified against the Mozilla roots, or only against the
    /// certificates of the PEM file `ca` when given (a private CA or a self-signed peer).
    pub fn new(timeout: Duration, ca: Option<&Path>) -> Result<Client, String> {
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .redirects(0)
            .user_agent(concat!("capme/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = ca {
            b = b.tls_config(Arc::new(tls_with_ca(ca)?));
        }
        Ok(Client { agent: b.build() })
    }

    /// GET `base` + `path` + `?query`: the response when its status is 200.
    pub fn get(
        &self,
        base: &str,
        path: &str,
        query: &str,
        credential: Option<&Credential>,
    ) -> Result<ureq::Response, Failure> {
        let url = format!("{base}{path}?{query}");
        let mut req = self.agent.get(&url);
        if let Some(c) = credential {
            req = req.set("Authorization", &c.header());
        }
        match req.call() {
            Ok(r) if r.status() == 200 => Ok(r),
            Ok(r) => Err(status_failure(r)),
            Err(ureq::Error::Status(_, r)) => Err(status_failure(r)),
            // Its kind, message and cause, without the URL (messages name the server already,
            // and the same failure of two requests reads the same).
            Err(ureq::Error::Transport(t)) => {
                let mut m = t.kind().to_string();
                if let Some(d) = t.message() {
                    m = format!("{m}: {d}");
                }
                if let Some(c) = std::error::Error::source(&t) {
                    m = format!("{m}: {c}");
                }
                Err(Failure::Transport(m))
            }
        }
    }
}

fn status_failure(r: ureq::Response) -> Failure {
    use std::io::Read;
    let status = r.status();
    let content_type = r.content_type().to_string();
    let mut body = Vec::new();
    let _ = r.into_reader().take(ERROR_BODY_MAX).read_to_end(&mut body);
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let text = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let error = text("error").unwrap_or_else(|| {
        let s = String::from_utf8_lossy(&body);
        let s = s.trim();
        if s.is_empty() {
            format!("status {status}")
        } else {
            s.chars().take(300).collect()
        }
    });
    Failure::Status {
        status,
        kind: text("kind").unwrap_or_default(),
        error,
        field: text("field"),
        body,
        content_type,
    }
}

/// A rustls client configuration trusting only the certificates of the PEM file `ca`.
fn tls_with_ca(ca: &Path) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |e: String| format!("peer CA {}: {e}", ca.display());
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))?;
    for c in certs {
        let c = c.map_err(|e| bad(e.to_string()))?;
        roots.add(c).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The peers of a server and the client that asks them.
#[derive(Debug, Clone)]
pub struct Peers {
    /// In `--peer` order (the merge's order for packets of equal timestamps).
    pub list: Vec<Arc<Peer>>,
    /// The client.
    pub client: Client,
}

impl Peers {
    /// The peer named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Peer>> {
        self.list.iter().find(|p| p.name == name)
    }
}

/// Where one source's packets came from, for the packets' `file`.
pub(crate) fn peer_path(p: &Peer) -> PathBuf {
    PathBuf::from(p.label())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_arguments_are_checked_and_name_the_value() {
        let p = Peer::parse("s2=https://sensor2:8443/").unwrap();
        assert_eq!(
            (p.name.as_str(), p.url.as_str()),
            ("s2", "https://sensor2:8443")
        );
        for bad in [
            "s2",
            "=http://x",
            "s 2=http://x",
            "s2=ftp://x",
            "s2=http://",
            "s2=http://x/?a=b",
        ] {
            assert!(Peer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_queries_drop_sensors_and_ask_locally() {
        assert_eq!(
            forward_query(
                "sip=10.0.0.1&sensor=a&sensor=b&stime=1&local=0&style=json",
                &["sip", "stime", "sensor", "local"]
            ),
            "sip=10.0.0.1&stime=1&local=1"
        );
    }

    #[test]
    fn credentials_lines_are_parsed_and_bad_lines_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("creds");
        std::fs::write(
            &f,
            "# peers\n\ns2 basic alice:pa:ss word\ns3\tbearer tok123\n",
        )
        .unwrap();
        let (c, _) = read_credentials(&f, &["s2", "s3"]).unwrap();
        assert_eq!(
            c["s2"],
            Credential::Basic {
                user: "alice".into(),
                password: "pa:ss word".into()
            }
        );
        assert_eq!(c["s3"], Credential::Bearer("tok123".into()));
        assert_eq!(c["s2"].header(), "Basic YWxpY2U6cGE6c3Mgd29yZA==");
        for (text, want) in [
            ("s9 basic a:b\n", "line 1: unknown peer \"s9\""),
            ("s2 basic ab\n", "line 1: basic needs USER:PASSWORD"),
            ("\ns2 digest a:b\n", "line 2: unknown scheme \"digest\""),
            ("s2 bearer\n", "line 1: bearer needs one TOKEN"),
            (
                "s2 basic a:b\ns2 basic a:c\n",
                "line 2: peer \"s2\" given twice",
            ),
        ] {
            std::fs::write(&f, text).unwrap();
            let e = read_credentials(&f, &["s2"]).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_credentials_file_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("creds");
        std::fs::write(&f, "s2 bearer t\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_credentials(&f, &["s2"]).unwrap().1, None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = read_credentials(&f, &["s2"]).unwrap().1.unwrap();
        assert!(w.contains("mode 644"), "{w}");
    }
}
