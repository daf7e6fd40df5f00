//! The order of the needs-build queue's groups, as bytes: what both
//! stores index the queue by.

use crate::model::QueueFacts;

/// The part of a queue key that groups builds placed alike (admin
/// priority, highest first; built before first; `Priority:`; `Section:`;
/// then builds known from mail only apart, after a 0 byte no name starts
/// with, so that `take` passes over them without reading them),
/// each group's builds then by name: the first key of each group is that
/// group's best, whatever order the configuration gives priorities and
/// sections (a store's `queue_heads` reads one per group: sled's queue
/// keys and PostgreSQL's `queue.grp` column start with it).
pub fn queue_group(facts: &QueueFacts) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    // Highest admin priority first: inverted, with the sign bit flipped
    // so that bytes order as numbers do.
    let p = (facts.admin_priority as u64) ^ (1 << 63);
    k.extend_from_slice(&(!p).to_be_bytes());
    k.push(if facts.built_before { 0 } else { 1 });
    for part in [&facts.priority, &facts.section] {
        if let Some(v) = part {
            k.push(1);
            k.extend_from_slice(v.as_bytes());
        }
        k.push(0);
    }
    if facts.mail_only {
        k.push(0);
    }
    k
}
