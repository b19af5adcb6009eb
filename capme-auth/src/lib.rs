//! Authentication for `capme serve` (issue 14).
//!
//! Three modes, exactly one of which the server is started with:
//!
//! - **Credentials checked by the server**: HTTP basic against a users file (`--users FILE`),
//!   bearer tokens against a tokens file (`--tokens FILE`), or both at once.
//!   - With a users file, a request may carry `Authorization: Basic base64(name:password)`,
//!     checked against the file's argon2 or bcrypt hash.
//!   - With a tokens file, a request may carry `Authorization: Bearer TOKEN`, checked against
//!     the SHA-256 hashes of the file; the user is then the token's name. This is what a
//!     server's `--peer-credentials` line `NAME bearer TOKEN` sends.
//!
//!   A request is checked against the file of the scheme it uses. Anything else is refused
//!   with 401 and a challenge naming the schemes accepted: `Basic realm="capme",
//!   charset="UTF-8"` ([`BASIC_CHALLENGE`]), `Bearer realm="capme"` ([`BEARER_CHALLENGE`]),
//!   or both, separated by `, ` (users first). A wrong token adds `error="invalid_token"` to
//!   the Bearer challenge (RFC 6750).
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
//! # The tokens file
//!
//! One token a line, `NAME sha256:HEX` (white space between the two); blank lines and `#`
//! comments as in the users file:
//!
//! ```text
//! # capme serve tokens: written by `capme serve --tokens FILE --add-token NAME`
//! # (the token of so-manager is "capme-example-token-not-for-use")
//! so-manager sha256:2e716534b66881e0913f7b033409e832a5cca1b4c58dfa5fe794d7025c759ca8
//! ```
//!
//! - A **name** follows the rule of a user name ([`validate_name`]); it is the user of the
//!   requests the token authenticates (the request log, the per-user limits), so a token may
//!   share a name with a user of the users file, and then counts as that user.
//! - A **hash** is `sha256:` and the 64 hexadecimal digits of the SHA-256 of the token
//!   ([`hash_token`]). No two lines share a name or a hash. A token itself is never stored.
//! - [`add_token`] makes a token of 32 random bytes from the operating system (43 characters of
//!   URL-safe base64), stores its hash as [`add_user`] stores a user (a temporary file renamed
//!   over the old one, mode 0600), and returns it: the only time it is shown.
//!
//! A fast hash suffices because a token is 256 random bits, not a password a person chose:
//! there is nothing to guess, and a slow hash would only cost every request tens of
//! milliseconds. Token hashes are compared in constant time.
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
mod tokens;
mod users;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName};

pub use tokens::{
    add_token, generate_token, hash_token, TokensFile, TOKEN_BYTES, TOKEN_HASH_PREFIX,
};
pub use users::{
    add_user, add_user_from_reader, add_user_from_stdin, hash_password, validate_name, UsersFile,
};

/// The realm of the HTTP basic challenge.
pub const REALM: &str = "capme";

/// The challenge a 401 response carries when the server authenticates with a users file.
pub const BASIC_CHALLENGE: &str = r#"Basic realm="capme", charset="UTF-8""#;

/// The challenge a 401 response carries when the server authenticates with a tokens file.
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="capme""#;

/// The user name of a request accepted by [`Auth::Insecure`].
pub const ANONYMOUS: &str = "anonymous";

/// The longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    /// The user's name: from the users file, the tokens file (the token's name), the trusted
    /// header, or [`ANONYMOUS`].
    pub name: String,
}

/// The `Authorization` schemes a server with users and/or tokens files accepts: what a 401
/// offers in its challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schemes {
    /// `Basic`, against a users file.
    pub basic: bool,
    /// `Bearer`, against a tokens file.
    pub bearer: bool,
}

impl Schemes {
    /// A users file only.
    pub const BASIC: Schemes = Schemes {
        basic: true,
        bearer: false,
    };
    /// A tokens file only.
    pub const BEARER: Schemes = Schemes {
        basic: false,
        bearer: true,
    };
    /// A users file and a tokens file.
    pub const BOTH: Schemes = Schemes {
        basic: true,
        bearer: true,
    };

    /// The `WWW-Authenticate` value: one challenge per scheme, `, ` between them; `bearer_error`
    /// is the RFC 6750 `error` parameter of the Bearer challenge.
    fn challenge(self, bearer_error: Option<&str>) -> String {
        let mut out = Vec::new();
        if self.basic {
            out.push(BASIC_CHALLENGE.to_owned());
        }
        if self.bearer {
            out.push(match bearer_error {
                Some(e) => format!(r#"{BEARER_CHALLENGE}, error="{e}""#),
                None => BEARER_CHALLENGE.to_owned(),
            });
        }
        out.join(", ")
    }

    /// "HTTP basic credentials", "a bearer token" or both, for messages.
    fn what(self) -> &'static str {
        match (self.basic, self.bearer) {
            (true, false) => "HTTP basic credentials",
            (false, true) => "a bearer token",
            _ => "HTTP basic credentials or a bearer token",
        }
    }
}

/// Why a request was refused. The message never contains a password, a token or the
/// credentials sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header (users or tokens file mode; the schemes accepted).
    MissingCredentials(Schemes),
    /// An `Authorization` header that is not one well-formed credential of an accepted scheme;
    /// the reason names the rule it broke.
    MalformedCredentials(Schemes, &'static str),
    /// An unknown user or a wrong password: deliberately one error, so as not to tell which.
    BadCredentials(Schemes),
    /// A bearer token that is not in the tokens file.
    BadToken(Schemes),
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
    /// [`BASIC_CHALLENGE`] with a users file, [`BEARER_CHALLENGE`] with a tokens file (with
    /// `error="invalid_token"` for a wrong token, `error="invalid_request"` for a malformed
    /// header), both with both; `None` for the trusted header (the proxy authenticates) and for
    /// 403.
    pub fn challenge(&self) -> Option<String> {
        match self {
            AuthError::MissingCredentials(s) | AuthError::BadCredentials(s) => {
                Some(s.challenge(None))
            }
            AuthError::MalformedCredentials(s, _) => Some(s.challenge(Some("invalid_request"))),
            AuthError::BadToken(s) => Some(s.challenge(Some("invalid_token"))),
            _ => None,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingCredentials(s) => {
                write!(f, "authentication required: send {}", s.what())
            }
            AuthError::MalformedCredentials(_, reason) => {
                write!(f, "malformed Authorization header: {reason}")
            }
            AuthError::BadCredentials(_) => f.write_str("invalid user name or password"),
            AuthError::BadToken(_) => f.write_str("invalid bearer token"),
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
    /// No authentication mode, or more than one: `--users` and/or `--tokens`,
    /// `--trusted-header`, `--insecure-no-auth`.
    #[error("{0}")]
    Options(String),
    /// `--insecure-no-auth` with a listen address that is not loopback.
    #[error(
        "--insecure-no-auth allows anonymous access and is accepted only on loopback addresses \
         (127.0.0.0/8, ::1); {addr} is not one: use --users FILE, --tokens FILE or \
         --trusted-header NAME"
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
    /// A line of the users or tokens file that is not blank, a comment or a valid entry
    /// (`name:hash`, `NAME sha256:HEX`).
    #[error("{}, line {line}: {reason}", path.display())]
    Malformed {
        /// The users or tokens file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong (never the hash or the rest of the line, which may hold a secret).
        reason: String,
    },
    /// A users file with no user in it.
    #[error("{}: no users in the file; add one with --add-user NAME", path.display())]
    NoUsers {
        /// The users file.
        path: PathBuf,
    },
    /// A tokens file with no token in it.
    #[error("{}: no tokens in the file; add one with --add-token NAME", path.display())]
    NoTokens {
        /// The tokens file.
        path: PathBuf,
    },
    /// The users or tokens file's path holds a directory, symbolic link, FIFO, socket or device.
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
    /// The operating system's random number generator failed (making a token).
    #[error("reading random bytes for a token from the operating system: {0}")]
    Random(String),
}

/// The server's authentication options, for [`Auth::with_options`]: `--users`, `--tokens`,
/// `--trusted-header`, `--insecure-no-auth`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthOptions<'a> {
    /// `--users FILE`: HTTP basic against this users file.
    pub users: Option<&'a Path>,
    /// `--tokens FILE`: bearer tokens against this tokens file.
    pub tokens: Option<&'a Path>,
    /// `--trusted-header NAME`: a reverse proxy names the user in this header.
    pub trusted_header: Option<&'a str>,
    /// `--insecure-no-auth`: anonymous, loopback only.
    pub insecure_no_auth: bool,
}

/// The users and tokens files of [`Auth::Credentials`]: at least one of the two.
#[derive(Debug)]
pub struct Credentials {
    users: Option<UsersFile>,
    tokens: Option<TokensFile>,
}

impl Credentials {
    /// From a users file, a tokens file, or both; `None` when both are `None`.
    pub fn new(users: Option<UsersFile>, tokens: Option<TokensFile>) -> Option<Credentials> {
        (users.is_some() || tokens.is_some()).then_some(Credentials { users, tokens })
    }

    /// The users file, checked for `Basic` credentials.
    pub fn users(&self) -> Option<&UsersFile> {
        self.users.as_ref()
    }

    /// The tokens file, checked for `Bearer` tokens.
    pub fn tokens(&self) -> Option<&TokensFile> {
        self.tokens.as_ref()
    }

    /// The schemes accepted.
    pub fn schemes(&self) -> Schemes {
        Schemes {
            basic: self.users.is_some(),
            bearer: self.tokens.is_some(),
        }
    }

    fn check(&self, headers: &HeaderMap) -> Result<User, AuthError> {
        let schemes = self.schemes();
        match basic::credentials(headers, schemes)? {
            basic::Credential::Basic { name, password } => match &self.users {
                Some(file) if file.verify(&name, &password) => Ok(User { name }),
                _ => Err(AuthError::BadCredentials(schemes)),
            },
            basic::Credential::Bearer(token) => match self.tokens.as_ref() {
                Some(file) => match file.verify(&token) {
                    Some(name) => Ok(User {
                        name: name.to_owned(),
                    }),
                    None => Err(AuthError::BadToken(schemes)),
                },
                None => Err(AuthError::BadToken(schemes)),
            },
        }
    }
}

/// How the server authenticates requests.
#[derive(Debug)]
pub enum Auth {
    /// HTTP basic against a users file, bearer tokens against a tokens file, or both.
    Credentials(Credentials),
    /// A header set by a trusted reverse proxy names the user.
    TrustedHeader(HeaderName),
    /// Anonymous access, loopback only.
    Insecure,
}

impl Auth {
    /// From the server's options: exactly one of `users` (`--users FILE`), `trusted_header`
    /// (`--trusted-header NAME`) and `insecure_no_auth` (`--insecure-no-auth`); see
    /// [`Auth::with_options`], which takes a tokens file too.
    pub fn new(
        users: Option<&Path>,
        trusted_header: Option<&str>,
        insecure_no_auth: bool,
        listen: &[SocketAddr],
    ) -> Result<Auth, ConfigError> {
        Auth::with_options(
            &AuthOptions {
                users,
                tokens: None,
                trusted_header,
                insecure_no_auth,
            },
            listen,
        )
    }

    /// From the server's options: exactly one mode, where `users` (`--users FILE`) and
    /// `tokens` (`--tokens FILE`), alone or together, are one mode (credentials this server
    /// checks), `trusted_header` (`--trusted-header NAME`) another and `insecure_no_auth`
    /// (`--insecure-no-auth`) the third. The error for more than one mode names the options
    /// given.
    ///
    /// Loads and checks the users and tokens files (each must hold at least one entry).
    /// Refuses [`Auth::Insecure`] unless every listen address is loopback; the error names
    /// `--insecure-no-auth` and the first address that is not.
    pub fn with_options(
        options: &AuthOptions<'_>,
        listen: &[SocketAddr],
    ) -> Result<Auth, ConfigError> {
        let AuthOptions {
            users,
            tokens,
            trusted_header,
            insecure_no_auth,
        } = *options;
        let given: Vec<&str> = [
            (users.is_some(), "--users"),
            (tokens.is_some(), "--tokens"),
            (trusted_header.is_some(), "--trusted-header"),
            (insecure_no_auth, "--insecure-no-auth"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        let modes = usize::from(users.is_some() || tokens.is_some())
            + usize::from(trusted_header.is_some())
            + usize::from(insecure_no_auth);
        if modes == 0 {
            return Err(ConfigError::Options(
                "no authentication configured: give --users FILE (HTTP basic) and/or \
                 --tokens FILE (bearer tokens), --trusted-header NAME (a reverse proxy \
                 authenticates) or --insecure-no-auth (anonymous, loopback addresses only)"
                    .into(),
            ));
        }
        if modes > 1 {
            let list = match given.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => given.join(""),
            };
            return Err(ConfigError::Options(format!(
                "{list} exclude one another: give --users FILE and/or --tokens FILE \
                 (credentials this server checks), or --trusted-header NAME, or \
                 --insecure-no-auth"
            )));
        }
        if users.is_some() || tokens.is_some() {
            let users = match users {
                Some(path) => {
                    let file = UsersFile::load(path)?;
                    if file.is_empty() {
                        return Err(ConfigError::NoUsers {
                            path: path.to_owned(),
                        });
                    }
                    Some(file)
                }
                None => None,
            };
            let tokens = match tokens {
                Some(path) => {
                    let file = TokensFile::load(path)?;
                    if file.is_empty() {
                        return Err(ConfigError::NoTokens {
                            path: path.to_owned(),
                        });
                    }
                    Some(file)
                }
                None => None,
            };
            let credentials = Credentials::new(users, tokens).expect("one of the two is given");
            return Ok(Auth::Credentials(credentials));
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
    /// For `Basic` credentials this verifies a password hash (tens of milliseconds of CPU): call
    /// it where blocking is fine. A bearer token costs one SHA-256.
    pub fn check(&self, headers: &HeaderMap, peer: SocketAddr) -> Result<User, AuthError> {
        match self {
            Auth::Credentials(credentials) => credentials.check(headers),
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

/// One line for the server's start-up log, e.g. `HTTP basic, 2 users from /etc/capme/users;
/// bearer, 1 token from /etc/capme/tokens`.
impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        match self {
            Auth::Credentials(c) => {
                if let Some(file) = &c.users {
                    write!(
                        f,
                        "HTTP basic, {} user{} from {}",
                        file.len(),
                        plural(file.len()),
                        file.path().display()
                    )?;
                }
                if let Some(file) = &c.tokens {
                    if c.users.is_some() {
                        f.write_str("; ")?;
                    }
                    write!(
                        f,
                        "bearer, {} token{} from {}",
                        file.len(),
                        plural(file.len()),
                        file.path().display()
                    )?;
                }
                Ok(())
            }
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
