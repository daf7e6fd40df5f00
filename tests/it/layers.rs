//! The architecture check: folders are layers and dependencies point one
//! way (ARCHITECTURE.md). Every `crate::…` and `super::…` path in `src/` is
//! read; a path into a higher layer, or a cycle between modules, fails.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use its own layer and the ones
/// before it.
const LAYERS: &[&str] = &[
    "debian", "time", "fsutil", "model", "config", "inbound", "decide", "store", "effects",
    "ingest", "sync", "query", "hub", "serve", "cli",
];

fn rank(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == top)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "shim") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a source file (`src/inbound/mail.rs` → `inbound::mail`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The first two segments of every module path `text` names, resolved
/// against `module` for `super::`.
fn referenced(module: &[String], text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    for (start, kw) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let mut path: Vec<String> = if kw == "super::" {
            // A file's `super` is its parent module (mod.rs: its own parent).
            module[..module.len().saturating_sub(1)].to_vec()
        } else {
            Vec::new()
        };
        let rest = &code[start + kw.len()..];
        for seg in rest.split("::") {
            let name: String = seg
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() || name == "self" || name.starts_with(char::is_uppercase) {
                break;
            }
            if name == "super" {
                path.pop();
                continue;
            }
            path.push(name.clone());
            if path.len() == 2 || seg.len() != name.len() {
                break;
            }
        }
        path.truncate(2);
        if !path.is_empty() {
            out.insert(path.join("::"));
        }
    }
    out
}

#[test]
fn dependencies_point_one_way_and_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(top) = module.first() else { continue };
        let Some(own) = rank(top) else {
            // lib.rs, main.rs
            continue;
        };
        let node = module
            .iter()
            .take(2)
            .cloned()
            .collect::<Vec<_>>()
            .join("::");
        let text = std::fs::read_to_string(file).unwrap();
        for target in referenced(&module, &text) {
            let ttop = target.split("::").next().unwrap_or("");
            let Some(r) = rank(ttop) else { continue };
            if r > own {
                upward.push(format!(
                    "{} ({top}) uses crate::{target} ({ttop} is a higher layer)",
                    file.strip_prefix(&src).unwrap().display()
                ));
            }
            if target != node && !node.starts_with(&format!("{target}::")) {
                graph.entry(node.clone()).or_default().insert(target);
            }
        }
    }
    assert!(
        upward.is_empty(),
        "dependencies must point down the layers:\n{}",
        upward.join("\n")
    );
    // Cycles between modules (a layer's submodules included).
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[i..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            // `crate::inbound` names the layer's root module; its children
            // are reached through their own nodes.
            if let Some(c) = visit(m, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(cycle) = visit(n, &graph, &mut state, &mut Vec::new()) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_checker_sees_what_it_must() {
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    let got = referenced(
        &m("inbound::mail"),
        "use crate::store::Store;\nlet x = crate::effects::outbox::f(); // crate::cli::x\nuse super::sbuild::Scan;",
    );
    assert_eq!(
        got,
        ["effects::outbox", "inbound::sbuild", "store"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}
