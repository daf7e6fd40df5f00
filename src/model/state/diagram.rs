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

/// One edge of the state diagram: every event that takes a build from
/// `from` to `to` (parallel edges merged into one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The state before.
    pub from: State,
    /// The state after (`from` itself for an event that keeps it).
    pub to: State,
    /// The events, in table order (`log:successful`, `cmd:retry`, ...).
    pub events: Vec<String>,
}

/// The edges of the state diagram, generated from [`TRANSITIONS`]: the one
/// source of both `buildmail states` views (dot and JSON).
pub fn edges() -> Vec<Edge> {
    let mut out: Vec<Edge> = Vec::new();
    for t in TRANSITIONS {
        for from in t.from {
            let targets: &[State] = match t.to {
                Target::To(to) => &[to][..],
                Target::Unchanged => std::slice::from_ref(from),
                Target::Upload => &[upload_outcome(true), upload_outcome(false)],
            };
            for to in targets {
                let name = t.event.name();
                match out.iter_mut().find(|e| e.from == *from && e.to == *to) {
                    Some(e) => {
                        if !e.events.contains(&name) {
                            e.events.push(name);
                        }
                    }
                    None => out.push(Edge {
                        from: *from,
                        to: *to,
                        events: vec![name],
                    }),
                }
            }
        }
    }
    out
}

/// The state diagram as Graphviz dot, generated from [`TRANSITIONS`]: one
/// edge per pair of states, labelled with every event that takes it.
pub fn diagram_dot() -> String {
    let mut out = String::from("digraph buildmail {\n  rankdir=LR;\n  node [shape=box];\n");
    for s in State::ALL {
        out.push_str(&format!("  \"{}\";\n", s.as_str()));
    }
    for e in edges() {
        out.push_str(&format!(
            "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
            e.from.as_str(),
            e.to.as_str(),
            e.events.join("\\n")
        ));
    }
    out.push_str("}\n");
    out
}

/// The transition table as JSON: the states, and the edges with their
/// events (for tools that draw or check the diagram themselves).
pub fn diagram_json() -> serde_json::Value {
    serde_json::json!({
        "states": State::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "edges": edges()
            .iter()
            .map(|e| serde_json::json!({
                "from": e.from.as_str(),
                "to": e.to.as_str(),
                "events": e.events,
            }))
            .collect::<Vec<_>>(),
    })
}
