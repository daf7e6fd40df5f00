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

/// Whether a queued build is handed out (`take`) and listed (`queue`):
/// a farm that follows an archive (`archive_followed`: `[archive] root`)
/// hands out only builds a sync has seen in the archive's Sources; one
/// known from mail only (`mail_only`: [`BuildRecord::mail_only`],
/// [`QueueFacts::mail_only`]) waits for the next sync, which either finds
/// its source (then it is handed out) or takes it out of the queue as a
/// source the archive does not have. A farm fed by mail alone hands out
/// every queued build.
pub fn handed_out(mail_only: bool, archive_followed: bool) -> bool {
    !(archive_followed && mail_only)
}

/// Why a queued build that is not [`handed_out`] waits, and what to do.
pub fn why_not_handed_out(r: &BuildRecord) -> String {
    format!(
        "it is {} ({}) but known from mail only: this farm follows an archive, and no sync has seen {} in its Sources; run `buildmail sync` (a source the archive has is then handed out, one it lacks leaves the queue)",
        r.state, r.version, r.key.source
    )
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

/// The queue: the queued records of `records` that are [`handed_out`]
/// (`archive_followed`: the farm follows an archive), in order.
pub fn order(
    by: &QueueOrder,
    archive_followed: bool,
    mut records: Vec<BuildRecord>,
) -> Vec<BuildRecord> {
    records.retain(|r| queued(r) && handed_out(r.mail_only(), archive_followed));
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
            false,
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
            false,
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

    #[test]
    fn a_build_known_from_mail_only_is_listed_only_without_an_archive() {
        let synced = rec("hello", "optional", "devel", false, None);
        let mail_only = BuildRecord {
            source: None,
            ..rec("ghost", "optional", "devel", false, None)
        };
        let names = |followed: bool| -> Vec<String> {
            order(
                &QueueOrder::default(),
                followed,
                vec![synced.clone(), mail_only.clone()],
            )
            .into_iter()
            .map(|r| r.key.source)
            .collect()
        };
        assert_eq!(names(false), ["hello", "ghost"]);
        assert_eq!(names(true), ["hello"]);
        assert!(why_not_handed_out(&mail_only).contains("run `buildmail sync`"));
    }
}
