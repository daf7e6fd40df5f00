//! The needs-build queue's order by `Priority` and `Section`: wanna-build's
//! defaults, which `archive.priority_order` and `archive.section_order`
//! can replace.

/// Priorities, first served first.
pub const PRIORITY_ORDER: &[&str] = &["required", "important", "standard", "optional", "extra"];

/// Sections, first served first: base and libraries early, games late. A
/// section not listed comes right after `misc`.
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

/// The two orders the queue uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOrder {
    /// Priorities, first served first; unlisted ones come last.
    pub priorities: Vec<String>,
    /// Sections, first served first; unlisted ones come after `misc` (or
    /// last, when `misc` is not listed).
    pub sections: Vec<String>,
}

impl Default for QueueOrder {
    fn default() -> Self {
        QueueOrder {
            priorities: PRIORITY_ORDER.iter().map(|s| s.to_string()).collect(),
            sections: SECTION_ORDER.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl QueueOrder {
    /// The rank of a priority (lower is served first).
    pub fn priority_rank(&self, p: Option<&str>) -> usize {
        p.and_then(|p| self.priorities.iter().position(|x| x == p))
            .unwrap_or(self.priorities.len())
    }

    /// The rank of a section (`contrib/libs` ranks as `libs`).
    pub fn section_rank(&self, s: Option<&str>) -> usize {
        let s = s.map(|s| s.rsplit('/').next().unwrap_or(s));
        let unlisted = self
            .sections
            .iter()
            .position(|x| x == "misc")
            .map_or(self.sections.len(), |m| m + 1);
        match s.and_then(|s| self.sections.iter().position(|x| x == s)) {
            Some(i) if i >= unlisted => i + 1,
            Some(i) => i,
            None => unlisted,
        }
    }
}
