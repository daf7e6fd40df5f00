//! Whether a build that just failed gets a build-failure notice, and when
//! it is due (`notify.notify_on`, `notify.quiet_period`).

use crate::config::Config;
use crate::model::{BuildRecord, Notice, State};

/// A build-failure notice for `record`, which just entered its state, if
/// `notify.notify_on` asks for notices about that state (`build-attempted`,
/// `failed`).
pub fn notice_for(config: &Config, record: &BuildRecord, now: i64) -> Option<Notice> {
    let event = match record.state {
        State::BuildAttempted => "build-attempted",
        State::Failed => "failed",
        _ => return None,
    };
    if !config.notify.notify_on.iter().any(|e| e == event) {
        return None;
    }
    let quiet = i64::try_from(config.notify.quiet_period.as_secs()).unwrap_or(i64::MAX);
    Some(Notice {
        source: record.key.source.clone(),
        version: record.version.clone(),
        dist: record.key.dist.clone(),
        arches: vec![record.key.arch.clone()],
        due: now.saturating_add(quiet),
        sent: false,
    })
}
