//! Who may ask: the one call the server makes per request (on the blocking pool, since a
//! password check costs tens of milliseconds).
//!
//! [`capme_auth::Auth`] (HTTP basic against a users file and/or bearer tokens against a tokens
//! file, a trusted proxy header, or anonymous on loopback only) is the server's authenticator; [`AllowLoopback`] and [`TrustedHeader`]
//! are simpler ones for embedding and tests.

use http::HeaderMap;
use std::net::SocketAddr;

/// A refusal: HTTP status (401 or 403), message, and a `WWW-Authenticate` value for a 401.
pub type Refusal = (u16, String, Option<String>);

/// Decides who a request comes from, or refuses it.
pub trait Authenticator: Send + Sync + 'static {
    /// The user name of a request with these headers from `peer`, or a refusal.
    fn check(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<String, Refusal>;
}

/// Lets any loopback peer in (as user `local`) and refuses every other peer with 403: the
/// default when no authentication is configured, so an unconfigured server answers only its
/// own machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowLoopback;

impl Authenticator for AllowLoopback {
    fn check(&self, _headers: &HeaderMap, peer: SocketAddr) -> Result<String, Refusal> {
        if peer.ip().is_loopback() {
            Ok("local".to_string())
        } else {
            Err((
                403,
                format!(
                    "{} is not a loopback peer; configure authentication (--users, --tokens \
                     or --trusted-header) to serve other hosts",
                    peer.ip()
                ),
                None,
            ))
        }
    }
}

/// Trusts a header set by a reverse proxy on this machine (e.g. `X-Remote-User`): the user is
/// the header's value; requests from non-loopback peers (which could set it themselves) are
/// refused with 403, and loopback requests without it with 401.
#[derive(Debug, Clone)]
pub struct TrustedHeader {
    name: http::HeaderName,
}

impl TrustedHeader {
    /// Trusts the header `name`; an invalid header name is an error.
    pub fn new(name: &str) -> Result<TrustedHeader, String> {
        http::HeaderName::from_bytes(name.as_bytes())
            .map(|name| TrustedHeader { name })
            .map_err(|_| format!("invalid trusted_header {name:?}: not an HTTP header name"))
    }
}

impl Authenticator for TrustedHeader {
    fn check(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<String, Refusal> {
        if !peer.ip().is_loopback() {
            return Err((
                403,
                format!(
                    "{} is not a loopback peer: {} is trusted only from a proxy on this host",
                    peer.ip(),
                    self.name
                ),
                None,
            ));
        }
        match headers.get(&self.name).and_then(|v| v.to_str().ok()) {
            Some(u) if !u.trim().is_empty() => Ok(u.trim().to_string()),
            _ => Err((401, format!("no {} header", self.name), None)),
        }
    }
}

impl Authenticator for capme_auth::Auth {
    fn check(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<String, Refusal> {
        capme_auth::Auth::check(self, headers, peer)
            .map(|u| u.name)
            .map_err(|e| (e.status(), e.to_string(), e.challenge()))
    }
}
