//! The state diagram as Graphviz dot, generated from the transition table.

#[allow(unused_imports)]
use super::*;

pub(super) fn list(states: &[State]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state diagram as Graphviz dot, generated from [`TRANSITIONS`].
pub fn diagram_dot() -> String {
    let mut out = String::from("digraph buildmail {\n  rankdir=LR;\n  node [shape=box];\n");
    for s in State::ALL {
        out.push_str(&format!("  \"{}\";\n", s.as_str()));
    }
    for t in TRANSITIONS {
        for from in t.from {
            let targets: &[State] = match t.to {
                Target::To(to) => &[to][..],
                Target::Unchanged => std::slice::from_ref(from),
                Target::Upload => &[upload_outcome(true), upload_outcome(false)],
            };
            for to in targets {
                out.push_str(&format!(
                    "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
                    from.as_str(),
                    to.as_str(),
                    t.event.name()
                ));
            }
        }
    }
    out.push_str("}\n");
    out
}
