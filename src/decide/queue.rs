//! The needs-build queue's order (wanna-build's): not first come, first
//! served. Builds an admin gave a priority to (`give-back <priority>`)
//! come first, highest first; then packages built before on this
//! architecture before new ones; then by `Priority` (required, important,
//! standard, optional, extra); then by section (base and libraries early,
//! games late; [`SECTION_ORDER`]); then by name.

use std::cmp::Ordering;

use crate::model::{BuildRecord, State};

/// Priorities, first served first.
pub const PRIORITY_ORDER: &[&str] = &["required", "important", "standard", "optional", "extra"];

/// Sections, first served first; a section not listed comes after `misc`
/// and before `oldlibs` and `games`.
pub const SECTION_ORDER: &[&str] = &[
    "base",
    "libs",
    "devel",
    "shells",
    "perl",
    "python",
    "interpreters",
    "admin",
    "utils",
    "net",
    "mail",
    "web",
    "graphics",
    "x11",
    "gnome",
    "kde",
    "text",
    "tex",
    "doc",
    "editors",
    "sound",
    "video",
    "science",
    "math",
    "misc",
    "oldlibs",
    "games",
];

fn priority_rank(p: Option<&str>) -> usize {
    p.and_then(|p| PRIORITY_ORDER.iter().position(|x| *x == p))
        .unwrap_or(PRIORITY_ORDER.len())
}

fn section_rank(s: Option<&str>) -> usize {
    // `contrib/libs` ranks as `libs`.
    let s = s.map(|s| s.rsplit('/').next().unwrap_or(s));
    let misc = SECTION_ORDER.iter().position(|x| *x == "misc").unwrap_or(0);
    match s.and_then(|s| SECTION_ORDER.iter().position(|x| *x == s)) {
        Some(i) if i > misc => i + 1,
        Some(i) => i,
        None => misc + 1,
    }
}

/// Whether a record is in the queue: Needs-Build, its source in the
/// archive, not waiting for an answer to "Should I build".
pub fn queued(r: &BuildRecord) -> bool {
    r.state == State::NeedsBuild
        && !r
            .source
            .as_ref()
            .is_some_and(|s| s.removed || s.ask_first.is_some())
}

/// The queue order of two queued records.
pub fn compare(a: &BuildRecord, b: &BuildRecord) -> Ordering {
    let built = |r: &BuildRecord| r.source.as_ref().is_some_and(|s| s.built_before);
    let prio =
        |r: &BuildRecord| priority_rank(r.source.as_ref().and_then(|s| s.priority.as_deref()));
    let sect = |r: &BuildRecord| section_rank(r.source.as_ref().and_then(|s| s.section.as_deref()));
    b.priority
        .unwrap_or(0)
        .cmp(&a.priority.unwrap_or(0))
        .then_with(|| built(b).cmp(&built(a)))
        .then_with(|| prio(a).cmp(&prio(b)))
        .then_with(|| sect(a).cmp(&sect(b)))
        .then_with(|| a.key.source.cmp(&b.key.source))
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
pub fn order(mut records: Vec<BuildRecord>) -> Vec<BuildRecord> {
    records.retain(queued);
    records.sort_by(compare);
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArchiveSource, BuildKey};

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
        let q = order(vec![
            rec("zgame", "optional", "games", true, None),
            rec("newlib", "optional", "libs", false, None),
            rec("oldtool", "optional", "devel", true, None),
            rec("base1", "required", "admin", true, None),
            rec("alib", "optional", "libs", true, None),
            rec("urgent", "extra", "games", false, Some(10)),
            rec("odd", "optional", "weird", true, None),
        ]);
        let names: Vec<&str> = q.iter().map(|r| r.key.source.as_str()).collect();
        assert_eq!(
            names,
            ["urgent", "base1", "alib", "oldtool", "odd", "zgame", "newlib"]
        );
        assert_eq!(
            why(&q[0]),
            "admin priority 10, new package, priority extra, section games"
        );
    }
}
