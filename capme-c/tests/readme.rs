//! The README shows the examples in full: its copies must be the files `scripts/test.sh` builds
//! and runs (`examples/c/minimal.c` without its leading comment, `examples/tcl/agent.tcl`
//! without its leading comment lines).

use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn readme_embeds_minimal_c() {
    let file = read("../examples/c/minimal.c");
    let body = &file[file.find("*/\n").expect("leading comment") + 3..];
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("```c\n{body}```")),
        "capme-c/README.md's copy of examples/c/minimal.c differs from the file"
    );
}

#[test]
fn readme_embeds_agent_tcl() {
    let file = read("../examples/tcl/agent.tcl");
    let body: String = file
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("```tcl\n{body}```")),
        "capme-c/README.md's copy of examples/tcl/agent.tcl differs from the file"
    );
}
