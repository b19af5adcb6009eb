//! contrib/systemd: the unit files parse as INI, have the keys a sensor needs (non-root user,
//! read-only store, writable state, restart, sandboxing, authentication), and every `capme`
//! command line in ExecStart= is accepted by the real binary's argument parser: it is run with
//! the same arguments plus `--help`, which clap reaches only after every flag before it is
//! known and its value parsed (an unknown flag or a bad value exits 2), and each flag is also
//! looked up in `capme <subcommand> --help`. When `systemd-analyze` is installed, the units
//! (ExecStart pointed at the built binary, in a temporary directory) must also pass
//! `systemd-analyze verify` without a word about them; without it that part is skipped, and
//! the test says so on stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Section → key → values (a key may repeat, as ExecStart= or SystemCallFilter=).
type Ini = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn contrib() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd")
}

const UNITS: [&str; 2] = ["capme-serve.service", "capme-index.service"];

/// systemd's unit syntax, strictly: `[Section]` headers, `Key=value` lines, `#`/`;` comments,
/// blank lines, a trailing `\` continuing a line. Anything else is an error naming the line.
fn parse_ini(text: &str) -> Result<Ini, String> {
    let mut ini = Ini::new();
    let mut section: Option<String> = None;
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let mut line = line.trim().to_string();
        while line.ends_with('\\') {
            line.pop();
            line.truncate(line.trim_end().len());
            let (_, next) = lines
                .next()
                .ok_or(format!("line {}: dangling `\\`", n + 1))?;
            line.push(' ');
            line.push_str(next.trim());
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if name.is_empty() || ini.contains_key(name) {
                return Err(format!("line {}: bad or repeated section {line:?}", n + 1));
            }
            ini.insert(name.to_string(), BTreeMap::new());
            section = Some(name.to_string());
            continue;
        }
        let Some(sec) = &section else {
            return Err(format!("line {}: key outside a section", n + 1));
        };
        let (k, v) = line
            .split_once('=')
            .ok_or(format!("line {}: not Key=value: {line:?}", n + 1))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("line {}: bad key {k:?}", n + 1));
        }
        ini.get_mut(sec)
            .unwrap()
            .entry(k.to_string())
            .or_default()
            .push(v.trim().to_string());
    }
    Ok(ini)
}

fn unit(name: &str) -> Ini {
    let path = contrib().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_ini(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The single value of `[section] key`.
fn one<'a>(ini: &'a Ini, section: &str, key: &str) -> &'a str {
    let v = ini
        .get(section)
        .and_then(|s| s.get(key))
        .unwrap_or_else(|| panic!("[{section}] {key}= missing"));
    assert_eq!(v.len(), 1, "[{section}] {key}= given {} times", v.len());
    &v[0]
}

/// The arguments of ExecStart= after the binary (no quoting is used in these units: a quote
/// would need systemd's rules, so it is refused here).
fn exec_args(ini: &Ini) -> (String, Vec<String>) {
    let line = one(ini, "Service", "ExecStart");
    assert!(
        !line.contains(['"', '\'', '$', '%']),
        "ExecStart= without quotes, variables or specifiers: {line}"
    );
    let line = line.trim_start_matches(['-', '@', ':', '+', '!']);
    let mut words = line.split_whitespace().map(str::to_string);
    let bin = words.next().unwrap();
    (bin, words.collect())
}

#[test]
fn units_parse_and_have_the_required_keys() {
    for name in UNITS {
        let u = unit(name);
        let ctx = |k: &str| format!("{name}: {k}");
        for s in ["Unit", "Service", "Install"] {
            assert!(u.contains_key(s), "{}", ctx(s));
        }
        assert!(!one(&u, "Unit", "Description").is_empty());
        assert_eq!(
            one(&u, "Install", "WantedBy"),
            "multi-user.target",
            "{name}"
        );
        // A user of its own, never root, and no way back to privileges.
        assert_eq!(one(&u, "Service", "User"), "capme", "{name}");
        assert_eq!(one(&u, "Service", "Group"), "capme", "{name}");
        assert!(!u["Service"].contains_key("DynamicUser"), "{name}");
        assert_eq!(one(&u, "Service", "NoNewPrivileges"), "yes", "{name}");
        assert_eq!(one(&u, "Service", "CapabilityBoundingSet"), "", "{name}");
        assert_eq!(one(&u, "Service", "Restart"), "on-failure", "{name}");
        // The store read-only, the state directories writable.
        assert_eq!(one(&u, "Service", "ProtectSystem"), "strict", "{name}");
        assert_eq!(
            one(&u, "Service", "ReadOnlyPaths"),
            "/nsm/sensor_data",
            "{name}"
        );
        let state: Vec<&str> = one(&u, "Service", "StateDirectory")
            .split_whitespace()
            .collect();
        assert!(state.contains(&"capme/index"), "{name}: {state:?}");
        assert!(!u["Service"].contains_key("ReadWritePaths"), "{name}");
        for (k, v) in [
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("ProtectKernelTunables", "yes"),
            ("ProtectKernelModules", "yes"),
            ("ProtectControlGroups", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("LockPersonality", "yes"),
        ] {
            assert_eq!(one(&u, "Service", k), v, "{}", ctx(k));
        }
        // Every writable or read path the command names is one the sandbox provides.
        let (bin, args) = exec_args(&u);
        assert_eq!(bin, "/usr/local/bin/capme", "{name}");
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].clone())
        };
        assert_eq!(
            value("--store").as_deref(),
            Some("/nsm/sensor_data"),
            "{name}"
        );
        let index_dir = value("--index-dir").expect("--index-dir: the store is read-only");
        assert!(
            index_dir.starts_with("/var/lib/capme/"),
            "{name}: {index_dir}"
        );
        assert!(state.contains(&index_dir.trim_start_matches("/var/lib/")));
        if let Some(archive) = value("--archive") {
            assert!(
                state.contains(&archive.trim_start_matches("/var/lib/")),
                "{name}"
            );
        }
    }
    let serve = unit("capme-serve.service");
    let (_, args) = exec_args(&serve);
    assert_eq!(args[0], "serve");
    for flag in [
        "--users",
        "--tls-cert",
        "--tls-key",
        "--archive",
        "--listen",
    ] {
        assert!(args.iter().any(|a| a == flag), "capme serve without {flag}");
    }
    let i = args.iter().position(|a| a == "--users").unwrap();
    assert_eq!(args[i + 1], "/etc/capme/users");
    assert!(!args.iter().any(|a| a == "--insecure-no-auth"));
    let index = unit("capme-index.service");
    let (_, args) = exec_args(&index);
    assert_eq!(args[0], "index");
    assert!(args.iter().any(|a| a == "--follow"));
    // Both name the same index directory.
    let dir = |u: &Ini| {
        let (_, a) = exec_args(u);
        let i = a.iter().position(|x| x == "--index-dir").unwrap();
        a[i + 1].clone()
    };
    assert_eq!(dir(&serve), dir(&index));
}

#[test]
fn the_parser_rejects_what_systemd_would_not_read() {
    assert!(parse_ini("Key=1\n").is_err());
    assert!(parse_ini("[Service]\nnot a key\n").is_err());
    assert!(parse_ini("[Service]\n[Service]\n").is_err());
    let ini = parse_ini("[Service]\n# c\nExecStart=/bin/a \\\n  b\nX=1\nX=2\n").unwrap();
    assert_eq!(ini["Service"]["ExecStart"], ["/bin/a b"]);
    assert_eq!(ini["Service"]["X"], ["1", "2"]);
}

#[test]
fn exec_start_command_lines_parse_with_the_real_binary() {
    let bin = env!("CARGO_BIN_EXE_capme");
    for name in UNITS {
        let (_, args) = exec_args(&unit(name));
        // Every flag and value is parsed before clap reaches the final --help.
        let o = Command::new(bin)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: capme {} --help: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr)
        );
        // A mistake is caught the same way (the check is not vacuous).
        let o = Command::new(bin)
            .args(&args)
            .args(["--no-such-flag", "--help"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{name}");
        // And each flag is one `capme <subcommand> --help` lists.
        let help = Command::new(bin)
            .args([&args[0], "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{name}: {flag} not in `capme {} --help`",
                args[0]
            );
        }
    }
}

fn have(cmd: &str) -> bool {
    Command::new(cmd).arg("--version").output().is_ok()
}

#[test]
fn systemd_analyze_verify_when_installed() {
    if !have("systemd-analyze") {
        eprintln!("systemd-analyze is not installed: `systemd-analyze verify` skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_capme");
    let mut paths = Vec::new();
    for name in UNITS {
        // verify checks that ExecStart's binary exists: point it at the one just built.
        let text = std::fs::read_to_string(contrib().join(name))
            .unwrap()
            .replace("/usr/local/bin/capme", bin);
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let about_ours: Vec<&str> = err
        .lines()
        .filter(|l| UNITS.iter().any(|u| l.contains(u)) || l.contains(&*path_str(tmp.path())))
        .collect();
    assert!(
        o.status.success() && about_ours.is_empty(),
        "systemd-analyze verify: {err}"
    );
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}
