//! The core's layout stays as README's architecture section draws it: `worker.rs` dispatches
//! and stays small, no core file grows past 1,000 lines, nothing in the core reaches the io
//! driver or the binding, nothing imports `worker.rs`, and the class modules (transports,
//! producer, consumers, data, observers, recorder) import neither each other nor the router: effects
//! between objects go through the router.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The `crate::core::<module>` names a file uses.
fn core_imports(src: &str) -> Vec<String> {
    let mut v: Vec<String> = src
        .match_indices("crate::core::")
        .map(|(i, m)| {
            src[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn core_layout_and_layering() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let classes = [
        "transport",
        "producer",
        "consumer",
        "data",
        "observers",
        "recorder",
    ];
    for f in &files {
        let src = fs::read_to_string(f).unwrap();
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().to_string();
        let lines = src.lines().count();
        let limit = if rel == "worker.rs" { 800 } else { 1000 };
        assert!(lines <= limit, "{rel} has {lines} lines (limit {limit})");
        assert!(
            !src.contains("crate::io") && !src.contains("crate::binding"),
            "{rel} reaches above the core"
        );
        let imports = core_imports(&src);
        if rel != "worker.rs" {
            assert!(
                !imports.iter().any(|m| m == "worker"),
                "{rel} imports worker.rs"
            );
        }
        let own = rel.split(['/', '.']).next().unwrap().to_string();
        if classes.contains(&own.as_str()) {
            for m in &imports {
                assert!(
                    m == &own || (m != "router" && !classes.contains(&m.as_str())),
                    "class module {rel} imports {m}"
                );
            }
        }
    }
}
