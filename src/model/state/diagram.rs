//! The state diagram as Graphviz dot, generated from the transition table.

use crate::model::state::upload_outcome;
use crate::model::state::Group;
use crate::model::state::Target;
use crate::model::state::TRANSITIONS;
use crate::model::State;

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

/// The state diagram as Graphviz dot, generated from [`TRANSITIONS`]: the
/// states in boxes by [`Group`], one edge per pair of states labelled with
/// every event that takes it, coloured by who sends it (builders' logs
/// blue, admins' commands black, the archive green). Events that keep a
/// state are listed in the state's box, not drawn as loops.
pub fn diagram_dot() -> String {
    let edges = edges();
    let mut out = String::from(
        "digraph buildmail {\n  rankdir=LR;\n  compound=true;\n  node [shape=box, style=rounded, fontname=\"sans\"];\n  edge [fontname=\"sans\", fontsize=10];\n",
    );
    for g in Group::ALL {
        out.push_str(&format!(
            "  subgraph cluster_{} {{\n    label=\"{}\";\n    style=dashed;\n    color=gray50;\n",
            g.as_str(),
            g.title()
        ));
        for s in State::ALL.iter().filter(|s| s.group() == g) {
            let kept: Vec<&str> = edges
                .iter()
                .filter(|e| e.from == *s && e.to == *s)
                .flat_map(|e| e.events.iter().map(String::as_str))
                .collect();
            let label = if kept.is_empty() {
                s.as_str().to_string()
            } else {
                format!("{}\\n(kept by {})", s.as_str(), wrap_events(&kept))
            };
            out.push_str(&format!("    \"{}\" [label=\"{label}\"];\n", s.as_str()));
        }
        out.push_str("  }\n");
    }
    for e in edges.iter().filter(|e| e.from != e.to) {
        out.push_str(&format!(
            "  \"{}\" -> \"{}\" [label=\"{}\", color={c}, fontcolor={c}];\n",
            e.from.as_str(),
            e.to.as_str(),
            e.events.join("\\n"),
            c = colour(&e.events)
        ));
    }
    out.push_str("}\n");
    out
}

/// The colour of an edge: who sends the events that take it.
fn colour(events: &[String]) -> &'static str {
    let kind = |e: &String| e.split(':').next().unwrap_or("").to_string();
    let first = events.first().map(kind).unwrap_or_default();
    if !events.iter().all(|e| kind(e) == first) {
        return "gray30";
    }
    match first.as_str() {
        "log" => "steelblue",
        "archive" => "darkgreen",
        _ => "black",
    }
}

/// Events listed three to a line, for a state's box.
fn wrap_events(events: &[&str]) -> String {
    events
        .chunks(3)
        .map(|c| c.join(", "))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// The transition table as JSON: the states, and the edges with their
/// events (for tools that draw or check the diagram themselves).
pub fn diagram_json() -> serde_json::Value {
    serde_json::json!({
        "states": State::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "groups": Group::ALL.iter().map(|g| serde_json::json!({
            "name": g.as_str(),
            "title": g.title(),
            "states": State::ALL.iter().filter(|s| s.group() == *g).map(|s| s.as_str()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
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
