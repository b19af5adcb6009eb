//! `gen-tunnels`: writes the tunnel store of `capme_gen::tunnels` (every encapsulation capme
//! decodes, around flows that also appear plain) and prints its cases as JSON lines.
//!
//! ```text
//! cargo run -p capme-gen --bin gen-tunnels -- /tmp/tunnel-store
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: gen-tunnels DIR");
        return ExitCode::from(2);
    };
    match capme_gen::tunnels::tunnel_store(std::path::Path::new(&out)) {
        Ok(st) => {
            for c in &st.cases {
                let (ca, cp, sa, sp) = c.inner;
                println!(
                    "{}",
                    serde_json::json!({
                        "name": c.name,
                        "inner": [ca.to_string(), cp, sa.to_string(), sp],
                        "outer": [c.outer.0.to_string(), c.outer.1.to_string()],
                        "outer_proto": c.outer_proto,
                        "plain": c.plain,
                        "tunnelled": c.tunnelled,
                        "by": c.by,
                        "stime": st.start,
                        "etime": st.end,
                    })
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-tunnels: {e}");
            ExitCode::FAILURE
        }
    }
}
