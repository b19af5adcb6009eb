//! The users file: parsing, verification, and adding a user.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Condvar, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::{ConfigError, MAX_NAME_CHARS};

/// A loaded users file: names and their password hashes.
pub struct UsersFile {
    path: PathBuf,
    users: HashMap<String, Hash>,
    /// Verified against for an unknown user, so that it costs what a wrong password does.
    dummy: String,
    /// How many verifications may run at once.
    limit: Limit,
}

/// A counting semaphore: each argon2 verification with the default parameters takes 19 MiB and
/// a core for tens of milliseconds, so a burst of requests (say on the server's blocking
/// pool, hundreds of threads) must not run them all at once.
struct Limit {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl Limit {
    fn new() -> Limit {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Limit {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: cores.max(1),
        }
    }

    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            while *running >= self.max {
                running = self.freed.wait(running).unwrap_or_else(|e| e.into_inner());
            }
            *running += 1;
        }
        // Released even if `f` panics.
        struct Release<'a>(&'a Limit);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut running = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
                *running -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        f()
    }
}

/// A hash that parsed when the file was loaded.
#[derive(Clone)]
enum Hash {
    /// A PHC string of argon2id, argon2i or argon2d.
    Argon2(String),
    /// `$2b$`, `$2y$` or `$2a$`.
    Bcrypt(String),
}

impl Hash {
    fn parse(s: &str) -> Option<Hash> {
        if s.starts_with("$argon2") {
            let phc = PasswordHash::new(s).ok()?;
            let algorithm = phc.algorithm.as_str();
            let known = ["argon2id", "argon2i", "argon2d"].contains(&algorithm);
            let complete = phc.salt.is_some() && phc.hash.is_some();
            let params_ok = argon2::Params::try_from(&phc).is_ok();
            (known && complete && params_ok).then(|| Hash::Argon2(s.to_owned()))
        } else if ["$2b$", "$2y$", "$2a$"].iter().any(|p| s.starts_with(p)) {
            bcrypt::HashParts::from_str(s)
                .ok()
                .map(|_| Hash::Bcrypt(s.to_owned()))
        } else {
            None
        }
    }

    /// In constant time as argon2's `Output` and bcrypt's `verify` compare.
    fn verify(&self, password: &str) -> bool {
        match self {
            Hash::Argon2(s) => verify_argon2(s, password),
            Hash::Bcrypt(s) => bcrypt::verify(password, s).unwrap_or(false),
        }
    }
}

fn verify_argon2(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        // `Argon2::default()` takes the algorithm, version and parameters from the hash.
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// One line of the file, kept so that [`add_user`] rewrites the others as they were.
enum Line {
    Entry { name: String, hash: Hash },
    Other(String),
}

impl UsersFile {
    /// Reads and checks a users file (see the crate documentation for its format). A missing
    /// file, a path that is not a regular file (after following symbolic links) or a malformed
    /// line is an error naming the file (and the line).
    pub fn load(path: &Path) -> Result<UsersFile, ConfigError> {
        let bytes = read_regular(path)?;
        let lines = parse(path, &bytes)?;
        let users = lines
            .into_iter()
            .filter_map(|line| match line {
                Line::Entry { name, hash } => Some((name, hash)),
                Line::Other(_) => None,
            })
            .collect();
        Ok(UsersFile {
            path: path.to_owned(),
            users,
            dummy: hash_password("capme: a password no user has")?,
            limit: Limit::new(),
        })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The user names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file names no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `name` is a user.
    pub fn contains(&self, name: &str) -> bool {
        self.users.contains_key(name)
    }

    /// Whether `password` is `name`'s. An unknown name is verified against a dummy argon2 hash
    /// (and refused), so that it takes as long as a wrong password. At most one verification
    /// per core runs at once; further calls wait their turn.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        self.limit.run(|| match self.users.get(name) {
            Some(hash) => hash.verify(password),
            None => {
                let _ = verify_argon2(&self.dummy, password);
                false
            }
        })
    }
}

/// Names only: the hashes stay out of logs.
impl fmt::Debug for UsersFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsersFile")
            .field("path", &self.path)
            .field("users", &self.names())
            .finish()
    }
}

/// The rule of a user name, as a reason when it is broken.
pub(crate) fn name_rule(name: &str) -> Result<(), &'static str> {
    let chars = name.chars().count();
    if chars == 0 {
        Err("empty")
    } else if chars > MAX_NAME_CHARS {
        Err("longer than 64 characters")
    } else if name.contains(':') {
        Err("contains `:`")
    } else if name.chars().any(char::is_whitespace) {
        Err("contains white space")
    } else if name.chars().any(char::is_control) {
        Err("contains a control character")
    } else {
        Ok(())
    }
}

/// Checks a user name: 1 to 64 characters, none of them `:`, white space or a control
/// character.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    name_rule(name).map_err(|reason| ConfigError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Line>, ConfigError> {
    let mut lines = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
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
        let Some((name, hash)) = text.split_once(':') else {
            return Err(malformed(
                "expected `name:hash`, a `# comment` or a blank line".into(),
            ));
        };
        name_rule(name).map_err(|reason| malformed(format!("invalid user name: {reason}")))?;
        let hash = Hash::parse(hash).ok_or_else(|| {
            malformed(format!(
                "the hash of user {name:?} is neither an argon2 PHC string ($argon2id$...) nor \
                 a bcrypt hash ($2b$, $2y$, $2a$); plain-text passwords are not accepted"
            ))
        })?;
        if let Some(first) = seen.insert(name.to_owned(), number) {
            return Err(malformed(format!(
                "user {name:?} is already defined on line {first}"
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

/// The bytes of the users or tokens file at `path`: an error naming it when it is missing,
/// unreadable, or not a regular file (after following symbolic links).
pub(crate) fn read_regular(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ConfigError::NotRegularFile {
            path: path.to_owned(),
            kind: kind_of(&meta),
        });
    }
    fs::read(path).map_err(io)
}

pub(crate) fn kind_of(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a FIFO, socket or device"
    }
}

/// An argon2id PHC string of `password`, with argon2's default parameters and a random salt:
/// what [`add_user`] writes.
pub fn hash_password(password: &str) -> Result<String, ConfigError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ConfigError::Hash(e.to_string()))
}

/// Adds the user `name` to the users file at `path`, or replaces its password, keeping every
/// other line as it was.
///
/// Creates the file when it does not exist. Writes a temporary file (mode 0600) in the same
/// directory, then renames it over `path`: a reader never sees a partial file, and a failure
/// leaves the old file as it was. Refuses a directory, a symbolic link or any other file that is
/// not a regular file at `path`, and an existing file with a malformed line (which it would
/// otherwise carry over).
pub fn add_user(path: &Path, name: &str, password: &str) -> Result<(), ConfigError> {
    validate_name(name)?;
    if password.is_empty() {
        return Err(ConfigError::EmptyPassword);
    }
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
    let hash = Hash::Argon2(hash_password(password)?);
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
            Line::Entry {
                name,
                hash: Hash::Argon2(h) | Hash::Bcrypt(h),
            } => {
                text.push_str(name);
                text.push(':');
                text.push_str(h);
            }
            Line::Other(raw) => text.push_str(raw),
        }
        text.push('\n');
    }
    write_atomically(path, text.as_bytes(), ".capme-users.").map_err(io)
}

/// Writes `bytes` to `path` through a temporary file (mode 0600, named `prefix...`) in the same
/// directory, renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], prefix: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // tempfile creates the file 0600 on Unix; set it anyway, whatever the umask.
    let mut tmp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is durable once the directory is synced; not every platform can open one.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`add_user`] with the password read from `reader`: one line, without its line ending
/// (`\n` or `\r\n`). Checks the name before reading. No line, or an empty one, is refused.
pub fn add_user_from_reader<R: BufRead>(
    path: &Path,
    name: &str,
    mut reader: R,
) -> Result<(), ConfigError> {
    validate_name(name)?;
    let mut line = String::new();
    reader.read_line(&mut line).map_err(ConfigError::Stdin)?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    add_user(path, name, password)
}

/// [`add_user`] with the password read from standard input (one line, without the newline;
/// an empty one is refused): what `capme serve --users FILE --add-user NAME` calls. Prints
/// nothing; the caller may print a prompt to standard error first.
pub fn add_user_from_stdin(path: &Path, name: &str) -> Result<(), ConfigError> {
    add_user_from_reader(path, name, io::stdin().lock())
}
