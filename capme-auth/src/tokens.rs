//! The tokens file: bearer tokens stored as SHA-256 hashes, verification, and adding a token.
//!
//! # Why SHA-256 and not argon2
//!
//! A password is chosen by a person and may be guessed: its hash must be slow (argon2, bcrypt)
//! so that a stolen users file does not give it away. A token is made by [`add_token`]: 32
//! bytes from the operating system's random number generator, 256 bits no one can guess or
//! enumerate. Recovering it from its SHA-256 hash is a preimage attack on SHA-256, however many
//! guesses a second allows; a slow hash would add nothing but tens of milliseconds of CPU and
//! 19 MiB of memory to every request. This holds only for tokens with that much entropy, so
//! the file holds hashes of tokens made here, never a password.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::users::{kind_of, name_rule, read_regular, validate_name, write_atomically};
use crate::ConfigError;

/// The prefix of a hash in the tokens file; 64 lower-case hexadecimal digits follow.
pub const TOKEN_HASH_PREFIX: &str = "sha256:";

/// How many random bytes a token made by [`add_token`] holds.
pub const TOKEN_BYTES: usize = 32;

/// A loaded tokens file: names and the SHA-256 hashes of their tokens.
pub struct TokensFile {
    path: PathBuf,
    tokens: Vec<(String, [u8; 32])>,
}

/// One line of the file, kept so that [`add_token`] rewrites the others as they were.
enum Line {
    Entry { name: String, hash: [u8; 32] },
    Other(String),
}

impl TokensFile {
    /// Reads and checks a tokens file (see the crate documentation for its format). A missing
    /// file, a path that is not a regular file (after following symbolic links) or a malformed
    /// line is an error naming the file (and the line).
    pub fn load(path: &Path) -> Result<TokensFile, ConfigError> {
        let bytes = read_regular(path)?;
        let tokens = parse(path, &bytes)?
            .into_iter()
            .filter_map(|line| match line {
                Line::Entry { name, hash } => Some((name, hash)),
                Line::Other(_) => None,
            })
            .collect();
        Ok(TokensFile {
            path: path.to_owned(),
            tokens,
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tokens.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the file holds no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The name of the token `token`, or `None` when it is not in the file.
    ///
    /// The token's SHA-256 is compared with every hash of the file, each in constant time, and
    /// the loop never stops early: how long it takes does not depend on which hash matched, or
    /// on how much of one did.
    pub fn verify(&self, token: &str) -> Option<&str> {
        let sent: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u64;
        for (i, (_, hash)) in self.tokens.iter().enumerate() {
            let equal = hash.ct_eq(&sent);
            index = u64::conditional_select(&index, &(i as u64), equal);
            found |= equal;
        }
        bool::from(found).then(|| self.tokens[index as usize].0.as_str())
    }
}

/// Names only: the hashes stay out of logs.
impl fmt::Debug for TokensFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokensFile")
            .field("path", &self.path)
            .field("tokens", &self.names())
            .finish()
    }
}

/// `sha256:` and the SHA-256 of `token` in lower-case hexadecimal: what the tokens file holds.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(TOKEN_HASH_PREFIX.len() + 64);
    s.push_str(TOKEN_HASH_PREFIX);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix(TOKEN_HASH_PREFIX)?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Line>, ConfigError> {
    let mut lines = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut hashes: HashMap<[u8; 32], usize> = HashMap::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let malformed = |reason: String| ConfigError::Malformed {
            path: path.to_owned(),
            line: number,
            reason,
        };
        let raw = std::str::from_utf8(raw).map_err(|_| malformed("not UTF-8".into()))?;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            lines.push(Line::Other(raw.trim_end_matches('\r').to_owned()));
            continue;
        }
        let mut fields = text.split_whitespace();
        let (Some(name), Some(hash), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(malformed(
                "expected `NAME sha256:HEX`, a `# comment` or a blank line".into(),
            ));
        };
        name_rule(name).map_err(|reason| malformed(format!("invalid token name: {reason}")))?;
        let hash = parse_hash(hash).ok_or_else(|| {
            malformed(format!(
                "the hash of token {name:?} is not `sha256:` and 64 hexadecimal digits; \
                 a token itself is never stored (add one with --add-token NAME)"
            ))
        })?;
        if let Some(first) = names.insert(name.to_owned(), number) {
            return Err(malformed(format!(
                "token {name:?} is already defined on line {first}"
            )));
        }
        if let Some(first) = hashes.insert(hash, number) {
            return Err(malformed(format!(
                "token {name:?} has the same hash as the token on line {first}"
            )));
        }
        lines.push(Line::Entry {
            name: name.to_owned(),
            hash,
        });
    }
    // A final newline leaves one empty piece after it: not a line.
    if bytes.ends_with(b"\n") {
        lines.pop();
    }
    Ok(lines)
}

/// A new token: [`TOKEN_BYTES`] bytes from the operating system's random number generator, in
/// URL-safe base64 without padding (43 characters, valid in an `Authorization: Bearer` header
/// and a `--peer-credentials` line).
pub fn generate_token() -> Result<String, ConfigError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ConfigError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Makes a new token for `name`, stores its hash in the tokens file at `path` (adding the name,
/// or replacing its old token, which then stops working at the server's next start), and
/// returns the token: the only time it is seen, since the file holds only its hash.
///
/// Keeps every other line as it was. Creates the file when it does not exist. Writes a
/// temporary file (mode 0600) in the same directory, then renames it over `path`: a reader
/// never sees a partial file, and a failure leaves the old file as it was. Refuses a directory,
/// a symbolic link or any other file that is not a regular file at `path`, and an existing file
/// with a malformed line (which it would otherwise carry over).
pub fn add_token(path: &Path, name: &str) -> Result<String, ConfigError> {
    validate_name(name)?;
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let mut lines = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => parse(path, &fs::read(path).map_err(io)?)?,
        Ok(meta) => {
            return Err(ConfigError::NotRegularFile {
                path: path.to_owned(),
                kind: kind_of(&meta),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(e)),
    };
    let token = generate_token()?;
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    match lines
        .iter_mut()
        .find(|l| matches!(l, Line::Entry { name: n, .. } if n == name))
    {
        Some(Line::Entry { hash: h, .. }) => *h = hash,
        _ => lines.push(Line::Entry {
            name: name.to_owned(),
            hash,
        }),
    }
    let mut text = String::new();
    for line in &lines {
        match line {
            Line::Entry { name, hash } => {
                text.push_str(name);
                text.push(' ');
                text.push_str(TOKEN_HASH_PREFIX);
                for b in hash {
                    text.push_str(&format!("{b:02x}"));
                }
            }
            Line::Other(raw) => text.push_str(raw),
        }
        text.push('\n');
    }
    write_atomically(path, text.as_bytes(), ".capme-tokens.").map_err(io)?;
    Ok(token)
}
