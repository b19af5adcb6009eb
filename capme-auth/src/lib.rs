//! Authentication for `capme serve` (issue 14).
//!
//! Three modes, exactly one of which the server is started with:
//!
//! - **HTTP basic against a users file** (`--users FILE`): every request carries
//!   `Authorization: Basic base64(name:password)`, checked against the file's argon2 or bcrypt
//!   hash. Anything else is refused with 401 and the challenge `Basic realm="capme",
//!   charset="UTF-8"`.
//! - **A header set by a trusted reverse proxy** (`--trusted-header X-Remote-User`): the proxy
//!   authenticates and names the user in that header; a request without it (or with it empty,
//!   repeated, or not a valid user name) is refused with 401. The server must then be reachable
//!   only through the proxy, and the proxy must *replace* the header, never pass on a client's:
//!   anyone who can reach the server directly can claim to be anyone.
//! - **Anonymous** (`--insecure-no-auth`): accepted only when every listen address is a loopback
//!   address ([`Auth::new`] refuses it otherwise), and each request is checked again to come
//!   from a loopback peer (403 if not). The user is then [`ANONYMOUS`].
//!
//! # The users file
//!
//! One user a line, `name:hash`; blank lines and lines starting with `#` are ignored, and
//! leading or trailing white space on a line is too:
//!
//! ```text
//! # capme serve users: written by `capme serve --users FILE --add-user NAME`
//! # (alice's password is "correct horse", bob's "battery staple")
//! alice:$argon2id$v=19$m=19456,t=2,p=1$wcjDJxkS8+KKdtitCoCpfQ$Ruoxlz77ErPg89RDcOtM/yKmn++TkZveZxAVnR4RShE
//!
//! # bcrypt hashes from `htpasswd -nB bob` work too ($2y$, $2b$ and $2a$);
//! # a comment has a line of its own
//! bob:$2y$10$KTutf1TvezMjdimXNmOt/.dvgjwMBCTVJC/T3uuCP1wAGcgkJTHAa
//! ```
//!
//! - A **name** is 1 to 64 characters, none of them `:`, white space or a control character
//!   ([`validate_name`]); a name appears at most once.
//! - A **hash** is a PHC string of argon2id, argon2i or argon2d (`$argon2id$v=19$m=...`), as
//!   [`add_user`] writes with argon2's default parameters (argon2id, 19 MiB, 2 passes), or a
//!   bcrypt hash (`$2b$`, `$2y$`, `$2a$`). Plain-text passwords are refused.
//! - Any other line is an error naming the file and the line number ([`ConfigError::Malformed`]);
//!   the message never repeats the hash or the rest of the line, in case a password was pasted
//!   there.
//!
//! The file is read once, by [`Auth::new`]: a user added while the server runs counts from its
//! next start.
//!
//! [`add_user`] adds or replaces one user, keeping every other line (comments too). It writes a
//! temporary file in the same directory and renames it over the old one, so a reader sees the
//! old file or the new one, never half of one; the file is mode 0600. It refuses to replace a
//! directory, a symbolic link or anything else that is not a regular file.
//!
//! # Examples
//!
//! Adding a user and checking a request, as the server does:
//!
//! ```
//! use std::net::SocketAddr;
//! use base64::Engine as _;
//! use capme_auth::{add_user, Auth, User};
//! use http::{header::AUTHORIZATION, HeaderMap, HeaderValue};
//!
//! let dir = tempfile::tempdir()?;
//! let users = dir.path().join("users");
//! add_user(&users, "alice", "correct horse")?;
//!
//! let listen: SocketAddr = "0.0.0.0:8080".parse()?;
//! let auth = Auth::new(Some(&users), None, false, &[listen])?;
//!
//! let peer: SocketAddr = "192.0.2.7:50000".parse()?;
//! let mut headers = HeaderMap::new();
//! let token = base64::engine::general_purpose::STANDARD.encode("alice:correct horse");
//! headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {token}"))?);
//! assert_eq!(auth.check(&headers, peer)?, User { name: "alice".into() });
//!
//! // No credentials: 401 with the challenge the response must carry.
//! let err = auth.check(&HeaderMap::new(), peer).unwrap_err();
//! assert_eq!(err.status(), 401);
//! assert_eq!(err.challenge().as_deref(), Some(r#"Basic realm="capme", charset="UTF-8""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Anonymous access only on loopback addresses:
//!
//! ```
//! use capme_auth::Auth;
//! let any: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
//! let err = Auth::new(None, None, true, &[any]).unwrap_err();
//! assert!(err.to_string().contains("--insecure-no-auth"));
//! let lo: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
//! assert!(matches!(Auth::new(None, None, true, &[lo]), Ok(Auth::Insecure)));
//! ```
//!
//! # Cost of a check, and why nothing is cached
//!
//! An argon2 check with the default parameters takes some tens of milliseconds of CPU and
//! 19 MiB of memory; a bcrypt check at cost 10 to 12 a similar time. The server should run
//! [`Auth::check`] off its async reactor (e.g. `spawn_blocking`); at most one check per core
//! runs at once (the others wait), so a burst of requests cannot take a core and 19 MiB each.
//! No verified credential is cached: a cache of (name, SHA-256(password)) would
//! keep, for as long as it lives, a fast unsalted hash of each recent password in memory (one
//! memory disclosure away from an offline guessing attack that argon2 exists to make slow), and
//! a hit answers faster than a miss. For capme's requests, each of which reads capture files,
//! the verification cost is small against the work it guards. A request for an unknown user is
//! verified against a dummy argon2 hash, so that it takes as long as a wrong password.

#![warn(missing_docs)]

mod basic;
mod users;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName};

pub use users::{
    add_user, add_user_from_reader, add_user_from_stdin, hash_password, validate_name, UsersFile,
};

/// The realm of the HTTP basic challenge.
pub const REALM: &str = "capme";

/// The challenge a 401 response carries when the server authenticates with a users file.
pub const BASIC_CHALLENGE: &str = r#"Basic realm="capme", charset="UTF-8""#;

/// The user name of a request accepted by [`Auth::Insecure`].
pub const ANONYMOUS: &str = "anonymous";

/// The longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    /// The user's name: from the users file, the trusted header, or [`ANONYMOUS`].
    pub name: String,
}

/// Why a request was refused. The message never contains a password or the credentials sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header (users file mode).
    MissingCredentials,
    /// An `Authorization` header that is not one well-formed `Basic` credential; the reason
    /// names the rule it broke.
    MalformedCredentials(&'static str),
    /// An unknown user or a wrong password: deliberately one error, so as not to tell which.
    BadCredentials,
    /// The trusted proxy's header is missing or empty.
    MissingTrustedHeader(HeaderName),
    /// The trusted proxy's header is repeated, not UTF-8, or not a valid user name.
    InvalidTrustedHeader {
        /// The header.
        header: HeaderName,
        /// Which rule its value broke.
        reason: &'static str,
    },
    /// The request is not allowed at all (anonymous mode, a peer that is not loopback).
    Forbidden(String),
}

impl AuthError {
    /// The HTTP status of the response: 401 for missing or bad credentials, 403 for a forbidden
    /// request.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Forbidden(_) => 403,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` value a 401 response carries, when the client can answer it:
    /// [`BASIC_CHALLENGE`] in users file mode, `None` for the trusted header (the proxy
    /// authenticates) and for 403.
    pub fn challenge(&self) -> Option<String> {
        match self {
            AuthError::MissingCredentials
            | AuthError::MalformedCredentials(_)
            | AuthError::BadCredentials => Some(BASIC_CHALLENGE.to_owned()),
            _ => None,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingCredentials => {
                f.write_str("authentication required: send HTTP basic credentials")
            }
            AuthError::MalformedCredentials(reason) => {
                write!(f, "malformed Authorization header: {reason}")
            }
            AuthError::BadCredentials => f.write_str("invalid user name or password"),
            AuthError::MissingTrustedHeader(h) => write!(
                f,
                "authentication required: the trusted header {h} is missing or empty"
            ),
            AuthError::InvalidTrustedHeader { header, reason } => {
                write!(f, "invalid trusted header {header}: {reason}")
            }
            AuthError::Forbidden(reason) => write!(f, "forbidden: {reason}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// A configuration error: the server's authentication options, the users file, or adding a
/// user. The message names the option, file and line; it never contains a password or a hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// None, or more than one, of `--users`, `--trusted-header` and `--insecure-no-auth`.
    #[error("{0}")]
    Options(String),
    /// `--insecure-no-auth` with a listen address that is not loopback.
    #[error(
        "--insecure-no-auth allows anonymous access and is accepted only on loopback addresses \
         (127.0.0.0/8, ::1); {addr} is not one: use --users FILE or --trusted-header NAME"
    )]
    InsecureNotLoopback {
        /// The first listen address that is not loopback.
        addr: SocketAddr,
    },
    /// `--insecure-no-auth` without any listen address.
    #[error("--insecure-no-auth needs at least one (loopback) listen address")]
    NoListenAddress,
    /// The `--trusted-header` name is not a valid HTTP header name.
    #[error("invalid --trusted-header {name:?}: {reason}")]
    InvalidHeaderName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading the password from standard input.
    #[error("reading the password from standard input: {0}")]
    Stdin(io::Error),
    /// A line of the users file that is not blank, a comment or a valid `name:hash`.
    #[error("{}, line {line}: {reason}", path.display())]
    Malformed {
        /// The users file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong (never the hash or the rest of the line).
        reason: String,
    },
    /// A users file with no user in it.
    #[error("{}: no users in the file; add one with --add-user NAME", path.display())]
    NoUsers {
        /// The users file.
        path: PathBuf,
    },
    /// The users file's path holds a directory, symbolic link, FIFO, socket or device.
    #[error("{}: {kind}, not a regular file; refusing to use or replace it", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What is there ("a directory", "a symbolic link", ...).
        kind: &'static str,
    },
    /// A user name that breaks [`validate_name`]'s rules.
    #[error("invalid user name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// An empty password (or no line on standard input).
    #[error("refusing an empty password")]
    EmptyPassword,
    /// Hashing the password failed.
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// How the server authenticates requests.
#[derive(Debug)]
pub enum Auth {
    /// HTTP basic against a users file.
    Users(UsersFile),
    /// A header set by a trusted reverse proxy names the user.
    TrustedHeader(HeaderName),
    /// Anonymous access, loopback only.
    Insecure,
}

impl Auth {
    /// From the server's options: exactly one of `users` (`--users FILE`), `trusted_header`
    /// (`--trusted-header NAME`) and `insecure_no_auth` (`--insecure-no-auth`).
    ///
    /// Loads and checks the users file (which must hold at least one user). Refuses
    /// [`Auth::Insecure`] unless every listen address is loopback; the error names
    /// `--insecure-no-auth` and the first address that is not.
    pub fn new(
        users: Option<&Path>,
        trusted_header: Option<&str>,
        insecure_no_auth: bool,
        listen: &[SocketAddr],
    ) -> Result<Auth, ConfigError> {
        let given = usize::from(users.is_some())
            + usize::from(trusted_header.is_some())
            + usize::from(insecure_no_auth);
        if given == 0 {
            return Err(ConfigError::Options(
                "no authentication configured: give --users FILE (HTTP basic), \
                 --trusted-header NAME (a reverse proxy authenticates) or --insecure-no-auth \
                 (anonymous, loopback addresses only)"
                    .into(),
            ));
        }
        if given > 1 {
            return Err(ConfigError::Options(
                "--users, --trusted-header and --insecure-no-auth exclude one another: give one"
                    .into(),
            ));
        }
        if let Some(path) = users {
            let file = UsersFile::load(path)?;
            if file.is_empty() {
                return Err(ConfigError::NoUsers {
                    path: path.to_owned(),
                });
            }
            return Ok(Auth::Users(file));
        }
        if let Some(name) = trusted_header {
            return parse_header_name(name).map(Auth::TrustedHeader);
        }
        if listen.is_empty() {
            return Err(ConfigError::NoListenAddress);
        }
        if let Some(addr) = listen.iter().find(|a| !is_loopback(a.ip())) {
            return Err(ConfigError::InsecureNotLoopback { addr: *addr });
        }
        Ok(Auth::Insecure)
    }

    /// Authenticates one request from its headers and the peer's address.
    ///
    /// In users file mode this verifies a password hash (tens of milliseconds of CPU): call it
    /// where blocking is fine.
    pub fn check(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<User, AuthError> {
        match self {
            Auth::Users(file) => {
                let (name, password) = basic::credentials(headers)?;
                if file.verify(&name, &password) {
                    Ok(User { name })
                } else {
                    Err(AuthError::BadCredentials)
                }
            }
            Auth::TrustedHeader(header) => trusted_user(headers, header),
            Auth::Insecure => {
                if is_loopback(peer.ip()) {
                    Ok(User {
                        name: ANONYMOUS.to_owned(),
                    })
                } else {
                    Err(AuthError::Forbidden(format!(
                        "anonymous access (--insecure-no-auth) is for loopback clients only; {} \
                         is not one",
                        peer.ip()
                    )))
                }
            }
        }
    }
}

/// One line for the server's start-up log, e.g. `HTTP basic, 2 users from /etc/capme/users`.
impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Users(file) => write!(
                f,
                "HTTP basic, {} user{} from {}",
                file.len(),
                if file.len() == 1 { "" } else { "s" },
                file.path().display()
            ),
            Auth::TrustedHeader(h) => write!(f, "the user named by the trusted header {h}"),
            Auth::Insecure => f.write_str("none: anonymous, loopback only (--insecure-no-auth)"),
        }
    }
}

/// Whether an address is loopback: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback(),
        IpAddr::V6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

fn parse_header_name(name: &str) -> Result<HeaderName, ConfigError> {
    let invalid = |reason| ConfigError::InvalidHeaderName {
        name: name.to_owned(),
        reason,
    };
    let header = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| invalid("not a valid HTTP header name"))?;
    if header == http::header::AUTHORIZATION || header == http::header::COOKIE {
        return Err(invalid(
            "a header that clients send themselves cannot name the user",
        ));
    }
    Ok(header)
}

fn trusted_user(headers: &HeaderMap, header: &HeaderName) -> Result<User, AuthError> {
    let invalid = |reason| AuthError::InvalidTrustedHeader {
        header: header.clone(),
        reason,
    };
    let mut values = headers.get_all(header).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingTrustedHeader(header.clone()));
    };
    if values.next().is_some() {
        return Err(invalid("sent more than once"));
    }
    let name = std::str::from_utf8(value.as_bytes()).map_err(|_| invalid("not UTF-8"))?;
    if name.is_empty() {
        return Err(AuthError::MissingTrustedHeader(header.clone()));
    }
    users::name_rule(name).map_err(invalid)?;
    Ok(User {
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests;
