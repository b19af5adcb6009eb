//! The module ladder of capme-core: each module imports only modules on lower rungs (or its
//! own rung's siblings where listed together). The README's layout section and `lib.rs` draw
//! the same ladder; this test keeps the code to it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Lowest rung first. Modules on one rung do not import each other.
const LADDER: &[&[&str]] = &[
    &["error", "hash", "io"],
    &["time"],
    &["wire"],
    &["flow"],
    &["query"],
    &["capture"],
    &["packet"],
    &["store"],
    &["index"],
    &["search"],
    &["sink"],
    &["transcript"],
    &["pivot"],
    &["extract"],
];

fn rung(module: &str) -> Option<usize> {
    LADDER.iter().position(|r| r.contains(&module))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules named by `crate::<name>` in `text`, outside test modules.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let name: String = rest[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{...}` or `crate::Item` (a root re-export) hide the module: flag them.
            let root_item = name.is_empty() || name.starts_with(|c: char| c.is_ascii_uppercase());
            out.insert(if root_item {
                "<root>".to_string()
            } else {
                name
            });
            rest = &rest[i + 7..];
        }
    }
    out
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut bad = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "testutil" {
            continue;
        }
        let own = rung(&module).unwrap_or_else(|| panic!("module {module} is not on the ladder"));
        let text = fs::read_to_string(f).unwrap();
        // A module's own test files (`tests.rs`) may use test helpers from anywhere.
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        for used in crate_refs(&text) {
            if used == module {
                continue;
            }
            if used == "<root>" {
                bad.push(format!(
                    "{}: imports through the crate root; name the module (crate::flow::FlowKey)",
                    rel.display()
                ));
                continue;
            }
            // Re-exports at the crate root (crate::Error, crate::FlowKey...) name items, not
            // modules: check the module they come from through lib.rs instead.
            let Some(r) = rung(&used) else {
                continue;
            };
            checked += 1;
            if r >= own {
                bad.push(format!(
                    "{}: {module} (rung {own}) uses crate::{used} (rung {r})",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        checked > 20,
        "the scan found only {checked} imports: is it reading src?"
    );
    assert!(
        bad.is_empty(),
        "imports against the ladder:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scan_sees_an_import_above() {
    // The check itself can fail: an import of a higher rung is found.
    let refs = crate_refs("use crate::search::Packet;\n// crate::sink in a comment\n");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec!["search".to_string()]
    );
    let refs = crate_refs("use crate::{Store, flow};\nlet x: crate::FlowKey;\n");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec!["<root>".to_string()]
    );
}
