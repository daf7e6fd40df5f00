//! The needs-build queue's order (wanna-build's): not first come, first
//! served. Builds an admin gave a priority to (`give-back <priority>`)
//! come first, highest first; then packages built before on this
//! architecture before new ones; then by `Priority` (required, important,
//! standard, optional, extra); then by section (base and libraries early,
//! games late); then by name. The priority and section orders are
//! [`QueueOrder`]'s (wanna-build's by default, `archive.*_order`).

use std::cmp::Ordering;

pub use crate::debian::order::QueueOrder;
use crate::model::{BuildRecord, QueueFacts};

/// Whether a record is in the queue ([`BuildRecord::in_queue`]).
pub fn queued(r: &BuildRecord) -> bool {
    r.in_queue()
}

/// The queue order of two queued builds, by what places them
/// ([`QueueFacts`]).
pub fn compare_facts(order: &QueueOrder, a: &QueueFacts, b: &QueueFacts) -> Ordering {
    b.admin_priority
        .cmp(&a.admin_priority)
        .then_with(|| b.built_before.cmp(&a.built_before))
        .then_with(|| {
            order
                .priority_rank(a.priority.as_deref())
                .cmp(&order.priority_rank(b.priority.as_deref()))
        })
        .then_with(|| {
            order
                .section_rank(a.section.as_deref())
                .cmp(&order.section_rank(b.section.as_deref()))
        })
        .then_with(|| a.source.cmp(&b.source))
}

/// The queue order of two queued records.
pub fn compare(order: &QueueOrder, a: &BuildRecord, b: &BuildRecord) -> Ordering {
    compare_facts(order, &a.queue_facts(), &b.queue_facts())
}

/// The queue of `facts` in order (a store's index of a queue).
pub fn order_facts(by: &QueueOrder, mut facts: Vec<QueueFacts>) -> Vec<QueueFacts> {
    facts.sort_by(|a, b| compare_facts(by, a, b));
    facts
}

/// Why a record stands where it does, in words.
pub fn why(r: &BuildRecord) -> String {
    let s = r.source.as_ref();
    let mut out = Vec::new();
    if let Some(p) = r.priority.filter(|p| *p != 0) {
        out.push(format!("admin priority {p}"));
    }
    out.push(if s.is_some_and(|s| s.built_before) {
        "built before".to_string()
    } else {
        "new package".to_string()
    });
    out.push(format!(
        "priority {}",
        s.and_then(|s| s.priority.as_deref()).unwrap_or("unknown")
    ));
    out.push(format!(
        "section {}",
        s.and_then(|s| s.section.as_deref()).unwrap_or("unknown")
    ));
    out.join(", ")
}

/// The queue: the queued records of `records`, in order.
pub fn order(by: &QueueOrder, mut records: Vec<BuildRecord>) -> Vec<BuildRecord> {
    records.retain(queued);
    let mut keyed: Vec<(QueueFacts, BuildRecord)> =
        records.into_iter().map(|r| (r.queue_facts(), r)).collect();
    keyed.sort_by(|a, b| compare_facts(by, &a.0, &b.0));
    keyed.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArchiveSource, BuildKey, State};

    fn rec(name: &str, prio: &str, section: &str, built: bool, admin: Option<i64>) -> BuildRecord {
        let key = BuildKey {
            dist: "unstable".into(),
            arch: "amd64".into(),
            source: name.into(),
        };
        BuildRecord {
            priority: admin,
            source: Some(ArchiveSource {
                version: "1-1".into(),
                section: Some(section.into()),
                priority: Some(prio.into()),
                built_before: built,
                ..ArchiveSource::default()
            }),
            ..BuildRecord::new(key, "1-1", State::NeedsBuild, 0)
        }
    }

    #[test]
    fn wanna_build_order() {
        let q = order(
            &QueueOrder::default(),
            vec![
                rec("zgame", "optional", "games", true, None),
                rec("newlib", "optional", "libs", false, None),
                rec("oldtool", "optional", "devel", true, None),
                rec("base1", "required", "admin", true, None),
                rec("alib", "optional", "libs", true, None),
                rec("urgent", "extra", "games", false, Some(10)),
                rec("odd", "optional", "weird", true, None),
            ],
        );
        let names: Vec<&str> = q.iter().map(|r| r.key.source.as_str()).collect();
        assert_eq!(
            names,
            ["urgent", "base1", "alib", "oldtool", "odd", "zgame", "newlib"]
        );
        let custom = QueueOrder {
            priorities: vec!["optional".into(), "required".into()],
            sections: vec!["games".into()],
        };
        let q2 = order(
            &custom,
            vec![
                rec("alib", "optional", "libs", true, None),
                rec("zgame", "optional", "games", true, None),
                rec("base1", "required", "admin", true, None),
            ],
        );
        let names2: Vec<&str> = q2.iter().map(|r| r.key.source.as_str()).collect();
        assert_eq!(names2, ["zgame", "alib", "base1"]);
        assert_eq!(
            why(&q[0]),
            "admin priority 10, new package, priority extra, section games"
        );
    }
}
