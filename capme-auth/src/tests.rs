//! Every rule of the crate, in temporary directories.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

const SECRET: &str = "hunter2-Secret";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn peer() -> SocketAddr {
    addr("192.0.2.7:50000")
}

fn basic_headers(credentials: &str) -> HeaderMap {
    let token = base64::engine::general_purpose::STANDARD.encode(credentials);
    authorization(&format!("Basic {token}"))
}

fn authorization(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    h
}

/// A users file with `contents` in a new temporary directory.
fn users_file(contents: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    fs::write(&path, contents).unwrap();
    (dir, path)
}

fn users_auth(path: &Path) -> Auth {
    Auth::new(Some(path), None, false, &[addr("0.0.0.0:8080")]).unwrap()
}

/// Small parameters, so the tests of argon2i/argon2d hashes are quick.
fn argon2_hash(algorithm: Algorithm, password: &str) -> String {
    let params = Params::new(64, 1, 1, None).unwrap();
    let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
    Argon2::new(algorithm, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn bcrypt_hash(version: bcrypt::Version, password: &str) -> String {
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(version)
}

/// Neither the message nor the debug form of an error holds the password.
fn assert_no_secret(e: &dyn std::fmt::Debug, display: &str) {
    assert!(!display.contains(SECRET), "{display}");
    assert!(!format!("{e:?}").contains(SECRET), "{e:?}");
}

// ---- users file mode ------------------------------------------------------------------

#[test]
fn argon2id_user_from_add_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    add_user(&path, "alice", SECRET).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("alice:$argon2id$v=19$"), "{text}");
    assert!(!text.contains(SECRET));
    let auth = users_auth(&path);
    let user = auth
        .check(&basic_headers(&format!("alice:{SECRET}")), peer())
        .unwrap();
    assert_eq!(user.name, "alice");
}

#[test]
fn argon2i_and_argon2d_hashes_verify() {
    let text = format!(
        "carol:{}\ndave:{}\n",
        argon2_hash(Algorithm::Argon2i, "pw-carol"),
        argon2_hash(Algorithm::Argon2d, "pw-dave")
    );
    let (_dir, path) = users_file(text);
    let auth = users_auth(&path);
    assert_eq!(
        auth.check(&basic_headers("carol:pw-carol"), peer())
            .unwrap()
            .name,
        "carol"
    );
    assert_eq!(
        auth.check(&basic_headers("dave:pw-dave"), peer())
            .unwrap()
            .name,
        "dave"
    );
    assert_eq!(
        auth.check(&basic_headers("dave:pw-carol"), peer()),
        Err(AuthError::BadCredentials(Schemes::BASIC))
    );
}

#[test]
fn bcrypt_2b_2y_2a_hashes_verify() {
    let text = format!(
        "b:{}\ny:{}\na:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "pw-b"),
        bcrypt_hash(bcrypt::Version::TwoY, "pw-y"),
        bcrypt_hash(bcrypt::Version::TwoA, "pw-a")
    );
    assert!(text.contains("b:$2b$04$") && text.contains("y:$2y$04$"));
    assert!(text.contains("a:$2a$04$"));
    let (_dir, path) = users_file(text);
    let auth = users_auth(&path);
    for (name, pw) in [("b", "pw-b"), ("y", "pw-y"), ("a", "pw-a")] {
        let user = auth.check(&basic_headers(&format!("{name}:{pw}")), peer());
        assert_eq!(user.unwrap().name, name);
        let wrong = auth.check(&basic_headers(&format!("{name}:{pw}x")), peer());
        assert_eq!(wrong, Err(AuthError::BadCredentials(Schemes::BASIC)));
    }
}

#[test]
fn wrong_password_and_unknown_user_are_one_401_with_the_challenge() {
    let (_dir, path) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "right")
    ));
    let auth = users_auth(&path);
    for creds in [
        format!("alice:{SECRET}"),
        format!("mallory:{SECRET}"),
        format!("bad name:{SECRET}"),
        "alice:".to_owned(),
    ] {
        let err = auth.check(&basic_headers(&creds), peer()).unwrap_err();
        assert_eq!(err, AuthError::BadCredentials(Schemes::BASIC));
        assert_eq!(err.status(), 401);
        assert_eq!(err.challenge().as_deref(), Some(BASIC_CHALLENGE));
        assert_eq!(err.to_string(), "invalid user name or password");
        assert_no_secret(&err, &err.to_string());
    }
}

#[test]
fn password_may_contain_colons_and_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    add_user(&path, "zoë", "a:b:ç").unwrap();
    let auth = users_auth(&path);
    assert_eq!(
        auth.check(&basic_headers("zoë:a:b:ç"), peer())
            .unwrap()
            .name,
        "zoë"
    );
}

#[test]
fn malformed_authorization_headers_are_401_with_the_challenge() {
    let (_dir, path) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, SECRET)
    ));
    let auth = users_auth(&path);

    let missing = auth.check(&HeaderMap::new(), peer()).unwrap_err();
    assert_eq!(missing, AuthError::MissingCredentials(Schemes::BASIC));
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.challenge().as_deref(), Some(BASIC_CHALLENGE));

    let no_colon = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let cases = [
        format!("Bearer {no_colon}"),
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "Basic !!!not-base64!!!".to_owned(),
        format!("Basic {no_colon}"),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(b"a\xff:b")
        ),
        format!("Digest username=\"alice\", response=\"{SECRET}\""),
    ];
    for value in &cases {
        let err = auth.check(&authorization(value), peer()).unwrap_err();
        assert!(
            matches!(err, AuthError::MalformedCredentials(Schemes::BASIC, _)),
            "{value}: {err:?}"
        );
        assert_eq!(err.status(), 401);
        assert_eq!(err.challenge().as_deref(), Some(BASIC_CHALLENGE));
        assert_no_secret(&err, &err.to_string());
    }

    // Two Authorization headers.
    let mut two = basic_headers(&format!("alice:{SECRET}"));
    two.append(AUTHORIZATION, HeaderValue::from_static("Basic YTpi"));
    assert!(matches!(
        auth.check(&two, peer()),
        Err(AuthError::MalformedCredentials(Schemes::BASIC, _))
    ));

    // Non-ASCII bytes in the header value.
    let mut raw = HeaderMap::new();
    raw.insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(b"Basic \xe9\xe9").unwrap(),
    );
    assert!(matches!(
        auth.check(&raw, peer()),
        Err(AuthError::MalformedCredentials(Schemes::BASIC, _))
    ));
}

#[test]
fn basic_scheme_is_case_insensitive_and_padding_optional() {
    let (_dir, path) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "pw1")
    ));
    let auth = users_auth(&path);
    // "alice:pw1" is 9 bytes: base64 without padding either way; "alice:pw1x" needs "==".
    let token = base64::engine::general_purpose::STANDARD.encode("alice:pw1");
    for value in [
        format!("basic {token}"),
        format!("BASIC   {token}"),
        format!("  Basic {token}  "),
    ] {
        assert_eq!(
            auth.check(&authorization(&value), peer()).unwrap().name,
            "alice"
        );
    }
    let (_d2, path2) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "pw1x")
    ));
    let auth2 = users_auth(&path2);
    let padded = base64::engine::general_purpose::STANDARD.encode("alice:pw1x");
    assert!(padded.ends_with("=="));
    for value in [
        format!("Basic {padded}"),
        format!("Basic {}", padded.trim_end_matches('=')),
    ] {
        assert_eq!(
            auth2.check(&authorization(&value), peer()).unwrap().name,
            "alice"
        );
    }
}

#[test]
fn users_file_comments_blank_lines_and_whitespace() {
    let text = format!(
        "# users\n\n   \n  alice:{}  \r\n# bob:nothing\n\tbob:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "a"),
        bcrypt_hash(bcrypt::Version::TwoY, "b")
    );
    let (_dir, path) = users_file(text);
    let file = UsersFile::load(&path).unwrap();
    assert_eq!(file.names(), ["alice", "bob"]);
    assert_eq!(file.len(), 2);
    assert!(file.contains("alice") && !file.contains("# bob"));
    assert!(file.verify("alice", "a") && file.verify("bob", "b"));
    assert!(!file.verify("alice", "b") && !file.verify("carol", "a"));
    let debug = format!("{file:?}");
    assert!(debug.contains("alice") && !debug.contains("$2"), "{debug}");
}

fn malformed(text: impl AsRef<[u8]>) -> ConfigError {
    let (_dir, path) = users_file(text);
    UsersFile::load(&path).unwrap_err()
}

#[test]
fn malformed_users_file_lines_are_errors_naming_file_and_line() {
    let good = bcrypt_hash(bcrypt::Version::TwoB, "x");
    let cases: Vec<(String, usize, &str)> = vec![
        (format!("# c\n\n{SECRET}\n"), 3, "expected `name:hash`"),
        (format!("alice:{good}\nbob:{SECRET}\n"), 2, "plain-text"),
        (format!("a b:{good}\n"), 1, "white space"),
        (format!(":{good}\n"), 1, "empty"),
        (format!("{}:{good}\n", "x".repeat(65)), 1, "longer than 64"),
        (format!("a\u{7}:{good}\n"), 1, "control"),
        (
            format!("alice:{good}\n#\nalice:{good}\n"),
            3,
            "already defined on line 1",
        ),
        ("alice:$argon2id$v=19$garbage\n".to_owned(), 1, "argon2"),
        (
            "alice:$argon2x$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA\n".to_owned(),
            1,
            "argon2",
        ),
        ("alice:$2b$04$short\n".to_owned(), 1, "bcrypt"),
        (
            "alice:$2x$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".to_owned(),
            1,
            "bcrypt",
        ),
    ];
    for (text, line, reason) in cases {
        let err = malformed(text.as_bytes());
        let ConfigError::Malformed {
            path, line: got, ..
        } = &err
        else {
            panic!("{text:?}: {err:?}")
        };
        assert_eq!(*got, line, "{text:?}: {err}");
        let msg = err.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("line {line}:")), "{msg}");
        assert!(msg.contains(reason), "{msg}");
        assert_no_secret(&err, &msg);
        assert!(
            !msg.contains("$2b$04$") && !msg.contains("garbage"),
            "{msg}"
        );
    }
    let err = malformed(b"alice:$2b$04$x\n\xff\n");
    assert!(
        matches!(err, ConfigError::Malformed { line: 1, .. }),
        "{err}"
    );
    let err = malformed(b"# fine\n\xff\n");
    assert!(
        matches!(err, ConfigError::Malformed { line: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not UTF-8"));
}

#[test]
fn users_file_must_exist_be_regular_and_name_a_user() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = Auth::new(Some(&missing), None, false, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }), "{err}");
    assert!(err.to_string().contains("nope"));

    let err = Auth::new(Some(dir.path()), None, false, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NotRegularFile {
                kind: "a directory",
                ..
            }
        ),
        "{err}"
    );

    let (_d, empty) = users_file("# nobody yet\n\n");
    let err = Auth::new(Some(&empty), None, false, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::NoUsers { .. }), "{err}");
    assert!(err.to_string().contains("--add-user"));
}

// ---- trusted header -------------------------------------------------------------------

fn trusted() -> Auth {
    Auth::new(None, Some("X-Remote-User"), false, &[addr("0.0.0.0:8080")]).unwrap()
}

fn with_header(values: &[&[u8]]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append("x-remote-user", HeaderValue::from_bytes(v).unwrap());
    }
    h
}

#[test]
fn trusted_header_names_the_user() {
    let auth = trusted();
    assert!(matches!(&auth, Auth::TrustedHeader(h) if h == "x-remote-user"));
    let user = auth.check(&with_header(&[b"alice"]), peer()).unwrap();
    assert_eq!(user.name, "alice");
    let user = auth
        .check(&with_header(&["zoë".as_bytes()]), peer())
        .unwrap();
    assert_eq!(user.name, "zoë");
    // Basic credentials play no part.
    let mut h = basic_headers("bob:pw");
    h.insert("x-remote-user", HeaderValue::from_static("carol"));
    assert_eq!(auth.check(&h, peer()).unwrap().name, "carol");
}

#[test]
fn trusted_header_missing_empty_or_invalid_is_401_without_challenge() {
    let auth = trusted();
    let header = HeaderName::from_static("x-remote-user");
    for h in [
        HeaderMap::new(),
        with_header(&[b""]),
        basic_headers("alice:pw"),
    ] {
        let err = auth.check(&h, peer()).unwrap_err();
        assert_eq!(err, AuthError::MissingTrustedHeader(header.clone()));
        assert_eq!(err.status(), 401);
        assert_eq!(err.challenge(), None);
        assert!(err.to_string().contains("x-remote-user"));
    }
    let long = "x".repeat(65);
    for values in [
        vec![b"a b".as_slice()],
        vec![b"a:b"],
        vec![long.as_bytes()],
        vec![b"a\tb"],
        vec![b"\xff\xfe"],
        vec![b"alice", b"bob"],
        vec![b"alice", b"alice"],
    ] {
        let err = auth.check(&with_header(&values), peer()).unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidTrustedHeader { .. }),
            "{values:?}: {err:?}"
        );
        assert_eq!(err.status(), 401);
        assert_eq!(err.challenge(), None);
    }
}

#[test]
fn trusted_header_name_is_checked() {
    for bad in ["", "X Remote", "x:y", "Authorization", "cookie"] {
        let err = Auth::new(None, Some(bad), false, &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidHeaderName { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("--trusted-header"));
    }
}

// ---- anonymous ------------------------------------------------------------------------

#[test]
fn insecure_refused_unless_every_listen_address_is_loopback() {
    for listen in [
        vec![addr("0.0.0.0:8080")],
        vec![addr("[::]:8080")],
        vec![addr("192.0.2.1:8080")],
        vec![addr("127.0.0.1:8080"), addr("0.0.0.0:8081")],
        vec![addr("[::1]:8080"), addr("[2001:db8::1]:8080")],
    ] {
        let err = Auth::new(None, None, true, &listen).unwrap_err();
        let bad = listen.iter().find(|a| !is_loopback(a.ip())).unwrap();
        assert!(
            matches!(err, ConfigError::InsecureNotLoopback { addr } if addr == *bad),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("--insecure-no-auth"), "{msg}");
        assert!(msg.contains(&bad.to_string()), "{msg}");
    }
    let err = Auth::new(None, None, true, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::NoListenAddress), "{err}");
}

#[test]
fn insecure_accepted_on_loopback_and_checks_the_peer() {
    for listen in [
        vec![addr("127.0.0.1:8080")],
        vec![addr("[::1]:8080")],
        vec![
            addr("127.1.2.3:80"),
            addr("[::1]:80"),
            addr("[::ffff:127.0.0.1]:80"),
        ],
    ] {
        let auth = Auth::new(None, None, true, &listen).unwrap();
        assert!(matches!(auth, Auth::Insecure));
        for p in ["127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000"] {
            let user = auth.check(&HeaderMap::new(), addr(p)).unwrap();
            assert_eq!(user.name, ANONYMOUS);
        }
        let err = auth.check(&HeaderMap::new(), peer()).unwrap_err();
        assert!(matches!(err, AuthError::Forbidden(_)));
        assert_eq!(err.status(), 403);
        assert_eq!(err.challenge(), None);
        assert!(err.to_string().contains("192.0.2.7"));
    }
}

#[test]
fn exactly_one_mode() {
    let (_d, path) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "x")
    ));
    let lo = [addr("127.0.0.1:8080")];
    let err = Auth::new(None, None, false, &lo).unwrap_err();
    assert!(matches!(err, ConfigError::Options(_)));
    assert!(err.to_string().contains("no authentication configured"));
    for (u, t, i) in [
        (Some(path.as_path()), Some("X-User"), false),
        (Some(path.as_path()), None, true),
        (None, Some("X-User"), true),
    ] {
        let err = Auth::new(u, t, i, &lo).unwrap_err();
        assert!(err.to_string().contains("exclude one another"), "{err}");
    }
}

#[test]
fn auth_display_for_the_start_up_log() {
    let (_d, path) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "x")
    ));
    let s = users_auth(&path).to_string();
    assert!(
        s.starts_with("HTTP basic, 1 user from ") && !s.contains("$2"),
        "{s}"
    );
    assert!(trusted().to_string().contains("x-remote-user"));
    let lo = [addr("127.0.0.1:1")];
    assert!(Auth::new(None, None, true, &lo)
        .unwrap()
        .to_string()
        .contains("--insecure-no-auth"));
}

// ---- add_user -------------------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn add_user_creates_the_file_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    add_user(&path, "alice", "pw").unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let file = UsersFile::load(&path).unwrap();
    assert_eq!(file.names(), ["alice"]);
    assert!(file.verify("alice", "pw"));
    // Nothing left behind but the file.
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn add_user_replaces_keeping_other_lines() {
    let bob = bcrypt_hash(bcrypt::Version::TwoY, "bob-pw");
    let (dir, path) = users_file(format!(
        "# capme users\nalice:{}\n\n# bob from htpasswd\nbob:{bob}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "old")
    ));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }
    add_user(&path, "alice", "new").unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert_eq!(lines[0], "# capme users");
    assert!(lines[1].starts_with("alice:$argon2id$"));
    assert_eq!(
        lines[2..],
        ["", "# bob from htpasswd", &format!("bob:{bob}")]
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let file = UsersFile::load(&path).unwrap();
    assert!(file.verify("alice", "new") && !file.verify("alice", "old"));
    assert!(file.verify("bob", "bob-pw"));

    add_user(&path, "carol", "c").unwrap();
    let file = UsersFile::load(&path).unwrap();
    assert_eq!(file.names(), ["alice", "bob", "carol"]);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn add_user_refuses_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = add_user(dir.path(), "alice", "pw").unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NotRegularFile {
                kind: "a directory",
                ..
            }
        ),
        "{err}"
    );
    assert!(dir.path().is_dir());
}

#[cfg(unix)]
#[test]
fn add_user_refuses_a_symlink_and_leaves_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let before = format!("bob:{}\n", bcrypt_hash(bcrypt::Version::TwoB, "x"));
    fs::write(&target, &before).unwrap();
    let link = dir.path().join("users");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = add_user(&link, "alice", "pw").unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NotRegularFile {
                kind: "a symbolic link",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not a regular file"));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&target).unwrap(), before);
    // A dangling link too.
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    assert!(matches!(
        add_user(&dangling, "alice", "pw"),
        Err(ConfigError::NotRegularFile { .. })
    ));
    assert!(!dir.path().join("nowhere").exists());
}

#[cfg(unix)]
#[test]
fn add_user_refuses_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("users");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    let err = add_user(&fifo, "alice", "pw").unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::NotRegularFile {
                kind: "a FIFO, socket or device",
                ..
            }
        ),
        "{err}"
    );
    // Loading refuses it too, rather than blocking on it.
    assert!(matches!(
        UsersFile::load(&fifo),
        Err(ConfigError::NotRegularFile { .. })
    ));
}

#[test]
fn add_user_refuses_a_malformed_file_and_leaves_it() {
    let before = format!("# x\nalice:{SECRET}\n");
    let (_d, path) = users_file(&before);
    let err = add_user(&path, "bob", "pw").unwrap_err();
    assert!(
        matches!(err, ConfigError::Malformed { line: 2, .. }),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn add_user_checks_name_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    for name in ["", "a:b", "a b", "a\nb", &"x".repeat(65)] {
        let err = add_user(&path, name, "pw").unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidName { .. }),
            "{name:?}: {err}"
        );
    }
    add_user(&path, &"é".repeat(64), "pw").unwrap();
    let err = add_user(&path, "alice", "").unwrap_err();
    assert!(matches!(err, ConfigError::EmptyPassword));
    assert!(UsersFile::load(&path).unwrap().len() == 1);
}

#[test]
fn add_user_from_reader_reads_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    for (input, password) in [
        (&b"pw one\n"[..], "pw one"),
        (b"pw two\r\nignored\n", "pw two"),
        (b"pw-three", "pw-three"),
        (b" spaced \n", " spaced "),
    ] {
        add_user_from_reader(&path, "alice", input).unwrap();
        assert!(UsersFile::load(&path).unwrap().verify("alice", password));
    }
    for input in [&b""[..], b"\n", b"\r\n"] {
        let err = add_user_from_reader(&path, "alice", input).unwrap_err();
        assert!(matches!(err, ConfigError::EmptyPassword), "{err}");
    }
    // The name is checked before anything is read.
    struct Unread;
    impl std::io::Read for Unread {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("read before the name was checked")
        }
    }
    let err = add_user_from_reader(&path, "a b", std::io::BufReader::new(Unread)).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidName { .. }));
}

#[test]
fn names_rule() {
    for ok in [
        "alice",
        "a",
        "alice@example.org",
        "DOMAIN\\bob",
        &"é".repeat(64),
    ] {
        validate_name(ok).unwrap();
    }
    for bad in [
        "",
        "a:b",
        "a b",
        "a\u{a0}b",
        "a\u{0}b",
        "a\u{7f}",
        &"x".repeat(65),
    ] {
        assert!(validate_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_documented_users_file_is_valid() {
    let source = include_str!("lib.rs");
    let start = source.find("//! ```text\n").unwrap() + "//! ```text\n".len();
    let end = start + source[start..].find("//! ```\n").unwrap();
    let text: String = source[start..end]
        .lines()
        .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
        .collect();
    let (_d, path) = users_file(&text);
    let file = UsersFile::load(&path).unwrap();
    assert_eq!(file.names(), ["alice", "bob"]);
    assert!(file.verify("alice", "correct horse"));
    assert!(file.verify("bob", "battery staple"));
    assert!(!file.verify("bob", "correct horse"));
}

#[test]
fn verifications_from_many_threads_all_answer() {
    let (_d, path) = users_file(format!(
        "alice:{}\n",
        argon2_hash(Algorithm::Argon2id, "pw")
    ));
    let file = UsersFile::load(&path).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let file = &file;
                s.spawn(move || file.verify("alice", if i % 2 == 0 { "pw" } else { "no" }))
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i % 2 == 0);
        }
    });
}

#[test]
fn auth_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Auth>();
    shared::<AuthError>();
    shared::<ConfigError>();
}

// ---- tokens file mode -----------------------------------------------------------------

const TOKEN: &str = "capme-example-token-not-for-use";

fn bearer(token: &str) -> HeaderMap {
    authorization(&format!("Bearer {token}"))
}

fn tokens_auth(path: &Path) -> Auth {
    Auth::with_options(
        &AuthOptions {
            tokens: Some(path),
            ..Default::default()
        },
        &[addr("0.0.0.0:8080")],
    )
    .unwrap()
}

/// A tokens file with `contents` in a new temporary directory.
fn tokens_file(contents: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    fs::write(&path, contents).unwrap();
    (dir, path)
}

#[test]
fn add_token_prints_a_fresh_token_and_stores_only_its_hash_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let token = add_token(&path, "so-manager").unwrap();
    // 32 random bytes, URL-safe base64 without padding.
    assert_eq!(token.len(), 43, "{token}");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("so-manager {}\n", hash_token(&token)));
    assert!(!text.contains(&token));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

    let auth = tokens_auth(&path);
    assert_eq!(
        auth.check(&bearer(&token), peer()).unwrap(),
        User {
            name: "so-manager".into()
        }
    );
    // The scheme is case-insensitive.
    let lower = authorization(&format!("bearer  {token}"));
    assert_eq!(auth.check(&lower, peer()).unwrap().name, "so-manager");

    // Another token each time.
    let other = add_token(&dir.path().join("other"), "so-manager").unwrap();
    assert_ne!(token, other);
}

#[test]
fn wrong_or_missing_token_is_401_with_the_bearer_challenge() {
    let (_d, path) = tokens_file(format!("so-manager {}\n", hash_token(TOKEN)));
    let auth = tokens_auth(&path);
    assert_eq!(
        auth.check(&bearer(TOKEN), peer()).unwrap().name,
        "so-manager"
    );

    for wrong in [
        format!("{TOKEN}x"),
        TOKEN[..TOKEN.len() - 1].to_owned(),
        TOKEN.to_uppercase(),
        hash_token(TOKEN),
        "sha256".to_owned(),
    ] {
        let err = auth.check(&bearer(&wrong), peer()).unwrap_err();
        assert_eq!(err, AuthError::BadToken(Schemes::BEARER), "{wrong}");
        assert_eq!(err.status(), 401);
        assert_eq!(
            err.challenge().as_deref(),
            Some(r#"Bearer realm="capme", error="invalid_token""#)
        );
        assert!(!err.to_string().contains(&wrong), "{err}");
    }

    let missing = auth.check(&HeaderMap::new(), peer()).unwrap_err();
    assert_eq!(missing, AuthError::MissingCredentials(Schemes::BEARER));
    assert_eq!(missing.challenge().as_deref(), Some(BEARER_CHALLENGE));
    assert!(missing.to_string().contains("bearer token"), "{missing}");

    // Basic credentials, or no token, are malformed for a tokens-only server.
    let basic = basic_headers(&format!("so-manager:{TOKEN}"));
    for headers in [
        basic,
        authorization("Bearer"),
        authorization("Bearer   "),
        authorization(&format!("Bearer {TOKEN} {TOKEN}")),
    ] {
        let err = auth.check(&headers, peer()).unwrap_err();
        assert!(
            matches!(err, AuthError::MalformedCredentials(Schemes::BEARER, _)),
            "{err:?}"
        );
        assert_eq!(
            err.challenge().as_deref(),
            Some(r#"Bearer realm="capme", error="invalid_request""#)
        );
        assert!(!err.to_string().contains(TOKEN), "{err}");
    }
    let err = auth.check(&basic_headers("a:b"), peer()).unwrap_err();
    assert!(err.to_string().contains("only the Bearer scheme"), "{err}");
}

#[test]
fn users_and_tokens_together_each_scheme_against_its_file() {
    let (_du, users) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, SECRET)
    ));
    let (_dt, tokens) = tokens_file(format!(
        "# peers\nso-manager\t{}\nalice {}\n",
        hash_token(TOKEN),
        hash_token("alice-token")
    ));
    let auth = Auth::with_options(
        &AuthOptions {
            users: Some(&users),
            tokens: Some(&tokens),
            ..Default::default()
        },
        &[addr("0.0.0.0:8080")],
    )
    .unwrap();
    let Auth::Credentials(c) = &auth else {
        panic!("{auth:?}")
    };
    assert_eq!(c.schemes(), Schemes::BOTH);
    let both = format!("{BASIC_CHALLENGE}, {BEARER_CHALLENGE}");

    let name = |h: &HeaderMap| auth.check(h, peer()).map(|u| u.name);
    assert_eq!(
        name(&basic_headers(&format!("alice:{SECRET}"))).unwrap(),
        "alice"
    );
    assert_eq!(name(&bearer(TOKEN)).unwrap(), "so-manager");
    assert_eq!(name(&bearer("alice-token")).unwrap(), "alice");
    // A token is not a password, nor a password a token.
    assert_eq!(
        name(&basic_headers(&format!("so-manager:{TOKEN}"))),
        Err(AuthError::BadCredentials(Schemes::BOTH))
    );
    assert_eq!(
        name(&bearer(SECRET)),
        Err(AuthError::BadToken(Schemes::BOTH))
    );
    let missing = auth.check(&HeaderMap::new(), peer()).unwrap_err();
    assert_eq!(missing.challenge(), Some(both.clone()));
    assert!(
        missing
            .to_string()
            .contains("basic credentials or a bearer token"),
        "{missing}"
    );
    let wrong = auth
        .check(&basic_headers("alice:wrong"), peer())
        .unwrap_err();
    assert_eq!(wrong.challenge(), Some(both));
    let digest = auth
        .check(&authorization("Digest username=\"alice\""), peer())
        .unwrap_err();
    assert!(digest.to_string().contains("Basic and Bearer"), "{digest}");

    let s = auth.to_string();
    assert!(
        s.starts_with("HTTP basic, 1 user from ") && s.contains("; bearer, 2 tokens from "),
        "{s}"
    );
    assert!(!s.contains("sha256"), "{s}");
    assert!(!format!("{auth:?}").contains("sha256"));
}

fn tokens_malformed(text: impl AsRef<[u8]>) -> ConfigError {
    let (_d, path) = tokens_file(text);
    TokensFile::load(&path).unwrap_err()
}

#[test]
fn malformed_tokens_file_lines_are_errors_naming_file_and_line() {
    let good = hash_token(TOKEN);
    let cases: Vec<(String, usize, &str)> = vec![
        (
            "# c\n\nalice\n".to_string(),
            3,
            "expected `NAME sha256:HEX`",
        ),
        (
            format!("alice {good} extra\n"),
            1,
            "expected `NAME sha256:HEX`",
        ),
        (format!("alice:{good}\n"), 1, "expected `NAME sha256:HEX`"),
        (
            format!("a:b {good}\n"),
            1,
            "invalid token name: contains `:`",
        ),
        (
            format!("{} {good}\n", "x".repeat(65)),
            1,
            "invalid token name: longer than 64",
        ),
        // Unknown formats: a plain token pasted, argon2, bcrypt, another digest, a short or
        // non-hex SHA-256, upper-case prefix.
        (format!("ok {good}\nalice {TOKEN}\n"), 2, "is not `sha256:`"),
        (
            format!("alice {}\n", argon2_hash(Algorithm::Argon2id, TOKEN)),
            1,
            "is not `sha256:`",
        ),
        (
            format!("alice {}\n", bcrypt_hash(bcrypt::Version::TwoB, TOKEN)),
            1,
            "is not `sha256:`",
        ),
        (
            format!("alice md5:{}\n", &good[7..39]),
            1,
            "is not `sha256:`",
        ),
        (format!("alice {}\n", &good[..70]), 1, "is not `sha256:`"),
        (format!("alice {}0\n", good), 1, "is not `sha256:`"),
        (
            format!("alice sha256:{}\n", "g".repeat(64)),
            1,
            "is not `sha256:`",
        ),
        (
            format!("alice SHA256:{}\n", &good[7..]),
            1,
            "is not `sha256:`",
        ),
        (
            format!("alice {good}\n# again\nalice {}\n", hash_token("other")),
            3,
            "token \"alice\" is already defined on line 1",
        ),
        (
            format!("alice {good}\nbob {good}\n"),
            2,
            "same hash as the token on line 1",
        ),
    ];
    for (text, line, reason) in cases {
        let err = tokens_malformed(&text);
        let ConfigError::Malformed {
            line: l, reason: r, ..
        } = &err
        else {
            panic!("{text}: {err:?}")
        };
        assert_eq!(*l, line, "{text}: {err}");
        assert!(r.contains(reason), "{text}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("tokens, line {line}:")), "{msg}");
        // Neither a token nor a hash is repeated.
        assert!(!msg.contains(TOKEN) && !msg.contains(&good[7..]), "{msg}");
    }
    let err = tokens_malformed(b"alice \xff\n");
    assert!(err.to_string().contains("line 1: not UTF-8"), "{err}");
}

#[test]
fn tokens_file_comments_blank_lines_whitespace_and_crlf() {
    let (_d, path) = tokens_file(format!(
        "# tokens\r\n\r\n   so-manager    {}   \r\n\t# indented comment\n\tb\t{}",
        hash_token(TOKEN),
        hash_token("b").to_uppercase().replace("SHA256:", "sha256:")
    ));
    let file = TokensFile::load(&path).unwrap();
    assert_eq!(file.names(), ["b", "so-manager"]);
    assert_eq!(file.verify(TOKEN), Some("so-manager"));
    assert_eq!(file.verify("b"), Some("b"));
    assert_eq!(file.verify("c"), None);
}

#[test]
fn tokens_file_must_exist_be_regular_and_name_a_token() {
    let dir = tempfile::tempdir().unwrap();
    fn opts(p: &Path) -> AuthOptions<'_> {
        AuthOptions {
            tokens: Some(p),
            ..AuthOptions::default()
        }
    }
    let missing = dir.path().join("nope");
    let err = Auth::with_options(&opts(&missing), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }) && err.to_string().contains("nope"));
    let err = Auth::with_options(&opts(dir.path()), &[]).unwrap_err();
    assert!(err.to_string().contains("a directory"), "{err}");
    let (_d, empty) = tokens_file("# nothing yet\n");
    let err = Auth::with_options(&opts(&empty), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::NoTokens { .. }));
    assert!(err.to_string().contains("--add-token"), "{err}");
}

#[test]
fn add_token_replaces_keeping_other_lines_and_the_old_token_stops_working() {
    let (dir, path) = tokens_file(format!(
        "# capme tokens\nso-manager {}\n\n# the other manager\nso-backup {}\n",
        hash_token("old"),
        hash_token("backup")
    ));
    let new = add_token(&path, "so-manager").unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "# capme tokens\nso-manager {}\n\n# the other manager\nso-backup {}\n",
            hash_token(&new),
            hash_token("backup")
        )
    );
    let file = TokensFile::load(&path).unwrap();
    assert_eq!(file.verify(&new), Some("so-manager"));
    assert_eq!(file.verify("old"), None);
    assert_eq!(file.verify("backup"), Some("so-backup"));
    let third = add_token(&path, "third").unwrap();
    let file = TokensFile::load(&path).unwrap();
    assert_eq!(file.names(), ["so-backup", "so-manager", "third"]);
    assert_eq!(file.verify(&third), Some("third"));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn add_token_refuses_bad_names_malformed_files_and_what_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    for bad in ["", "a b", "a:b"] {
        let err = add_token(&path, bad).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidName { .. }), "{err:?}");
    }
    assert!(!path.exists());
    let err = add_token(dir.path(), "x").unwrap_err();
    assert!(err.to_string().contains("a directory"), "{err}");

    let (_d, bad) = tokens_file(format!("alice {TOKEN}\n"));
    let err = add_token(&bad, "bob").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    assert_eq!(
        fs::read_to_string(&bad).unwrap(),
        format!("alice {TOKEN}\n")
    );

    #[cfg(unix)]
    {
        let target = dir.path().join("target");
        fs::write(&target, "").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = add_token(&link, "x").unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "");
    }
}

#[test]
fn tokens_combine_with_users_only() {
    let (_du, users) = users_file(format!(
        "alice:{}\n",
        bcrypt_hash(bcrypt::Version::TwoB, "x")
    ));
    let (_dt, tokens) = tokens_file(format!("t {}\n", hash_token(TOKEN)));
    let lo = [addr("127.0.0.1:8080")];
    for (o, named) in [
        (
            AuthOptions {
                tokens: Some(&tokens),
                trusted_header: Some("X-User"),
                ..Default::default()
            },
            "--tokens and --trusted-header exclude one another",
        ),
        (
            AuthOptions {
                tokens: Some(&tokens),
                insecure_no_auth: true,
                ..Default::default()
            },
            "--tokens and --insecure-no-auth exclude one another",
        ),
        (
            AuthOptions {
                users: Some(&users),
                tokens: Some(&tokens),
                trusted_header: Some("X-User"),
                insecure_no_auth: true,
            },
            "--users, --tokens, --trusted-header and --insecure-no-auth exclude one another",
        ),
    ] {
        let err = Auth::with_options(&o, &lo).unwrap_err();
        assert!(matches!(err, ConfigError::Options(_)));
        assert!(err.to_string().contains(named), "{err}");
        assert!(
            err.to_string()
                .contains("--users FILE and/or --tokens FILE"),
            "{err}"
        );
    }
    let err = Auth::with_options(&AuthOptions::default(), &lo).unwrap_err();
    assert!(err.to_string().contains("--tokens FILE"), "{err}");
    let only = Auth::with_options(
        &AuthOptions {
            tokens: Some(&tokens),
            ..Default::default()
        },
        &lo,
    )
    .unwrap();
    assert_eq!(
        only.to_string(),
        format!("bearer, 1 token from {}", tokens.display())
    );
}

#[test]
fn the_documented_tokens_file_is_valid() {
    let source = include_str!("lib.rs");
    let marker = "//! # The tokens file";
    let from = source.find(marker).unwrap();
    let start = from + source[from..].find("//! ```text\n").unwrap() + "//! ```text\n".len();
    let end = start + source[start..].find("//! ```\n").unwrap();
    let text: String = source[start..end]
        .lines()
        .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
        .collect();
    let (_d, path) = tokens_file(&text);
    let file = TokensFile::load(&path).unwrap();
    assert_eq!(file.names(), ["so-manager"]);
    assert_eq!(file.verify(TOKEN), Some("so-manager"));
}
