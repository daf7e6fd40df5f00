//! Whether a mail of no known kind is forwarded to the admins or only
//! kept: buildmail's own mail that came back, a blacklisted sender, and
//! bounces past the loop-protection limit are kept.

use crate::config::ForwardConfig;
use crate::inbound::classify::ForwardFacts;

/// Why the mail is kept rather than forwarded (`None`: forward it).
/// `recent_bounces` is the number of bounces within `forward.bounce_window`.
pub fn keep_reason(
    f: &ForwardFacts,
    rules: &ForwardConfig,
    recent_bounces: usize,
) -> Option<String> {
    let blacklisted = f
        .from
        .as_deref()
        .is_some_and(|from| rules.blacklist.iter().any(|b| b.eq_ignore_ascii_case(from)));
    if f.ours {
        Some("buildmail's own mail came back; kept, not forwarded (no mail loops)".to_string())
    } else if blacklisted {
        Some("the sender is in forward.blacklist; kept, not forwarded".to_string())
    } else if f.bounce && recent_bounces >= rules.max_bounces as usize {
        Some(format!(
            "more than {} bounces within {:?}; kept, not forwarded (forward.max_bounces)",
            rules.max_bounces, rules.bounce_window
        ))
    } else {
        None
    }
}
