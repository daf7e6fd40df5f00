use std::cmp::Ordering;

use super::*;

#[test]
fn state_names_round_trip() {
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(s));
        assert_eq!(State::parse(&s.as_str().to_lowercase()), Some(s));
    }
    assert_eq!(
        State::parse("failed_to_upload"),
        Some(State::FailedToUpload)
    );
    assert_eq!(State::parse("nonsense"), None);
    assert_eq!(State::FailedToUpload.title(), "Failed to upload");
}

#[test]
fn new_builds_take_the_log_state() {
    assert_eq!(
        decide_log(None, "1.0-1", Status::Successful),
        LogDecision::Create(State::Built)
    );
    assert_eq!(
        decide_log(None, "1.0-1", Status::Attempted),
        LogDecision::Create(State::BuildAttempted)
    );
    assert_eq!(
        decide_log(None, "1.0-1", Status::GivenBack),
        LogDecision::Create(State::NeedsBuild)
    );
    assert_eq!(
        decide_log(None, "1.0-1", Status::Failed),
        LogDecision::Create(State::NeedsBuild)
    );
}

#[test]
fn same_version_follows_the_table() {
    assert_eq!(
        decide_log(
            Some((State::Building, "1.0-1")),
            "1.0-1",
            Status::Successful
        ),
        LogDecision::Move(State::Building, State::Built)
    );
    assert_eq!(
        decide_log(Some((State::Built, "1.0-1")), "1.0-1", Status::Attempted),
        LogDecision::Move(State::Built, State::BuildAttempted)
    );
    assert!(matches!(
        decide_log(Some((State::Built, "1.0-1")), "1.0-1", Status::Skipped),
        LogDecision::Record(_)
    ));
    // An uploaded build is not pulled back by a repeated log.
    assert!(matches!(
        decide_log(Some((State::Uploaded, "1.0-1")), "1.0-1", Status::Successful),
        LogDecision::Record(r) if r.contains("Uploaded")
    ));
    assert!(matches!(
        decide_log(
            Some((State::Installed, "1.0-1")),
            "1.0-1",
            Status::GivenBack
        ),
        LogDecision::Record(_)
    ));
}

#[test]
fn older_logs_are_only_recorded() {
    let d = decide_log(Some((State::Built, "1:2.0-1")), "2.5-1", Status::Attempted);
    assert!(matches!(d, LogDecision::Record(r) if r.contains("older")));
    // binNMU is newer than its source version
    assert_eq!(
        decide_log(
            Some((State::Installed, "2.0-1")),
            "2.0-1+b1",
            Status::Successful
        ),
        LogDecision::Move(State::Installed, State::Built)
    );
    // ~ sorts before everything
    assert!(matches!(
        decide_log(
            Some((State::Built, "2.0-1")),
            "2.0~rc1-1",
            Status::Successful
        ),
        LogDecision::Record(_)
    ));
}

#[test]
fn not_for_us_survives_newer_versions() {
    assert!(matches!(
        decide_log(
            Some((State::NotForUs, "1.0-1")),
            "1.1-1",
            Status::Successful
        ),
        LogDecision::Record(_)
    ));
}

#[test]
fn versions_compare_like_dpkg() {
    assert_eq!(
        crate::debian::version::compare("1:1.0", "2.0"),
        Ordering::Greater
    );
    assert_eq!(
        crate::debian::version::compare("1.0~rc1", "1.0"),
        Ordering::Less
    );
    assert_eq!(
        crate::debian::version::compare("1.0-1+b1", "1.0-1"),
        Ordering::Greater
    );
    assert_eq!(
        crate::debian::version::compare("1.0-1", "1.0-1"),
        Ordering::Equal
    );
}

#[test]
fn commands_follow_design_section_4() {
    use CommandKind::*;
    assert_eq!(
        decide_command(State::Built, Retry),
        Ok(Target::To(State::NeedsBuild))
    );
    assert_eq!(
        decide_command(State::BdUninstallable, Fail),
        Ok(Target::To(State::Failed))
    );
    assert_eq!(
        decide_command(State::Failed, FailSeeBug),
        Ok(Target::To(State::Failed))
    );
    assert_eq!(
        decide_command(State::Failed, DepWait),
        Ok(Target::To(State::DepWait))
    );
    assert!(decide_command(State::Installed, DepWait).is_err());
    assert!(decide_command(State::NotForUs, DepWait).is_err());
    assert_eq!(
        decide_command(State::Building, Manual),
        Ok(Target::Unchanged)
    );
    assert_eq!(
        decide_command(State::Installed, NewVersion),
        Ok(Target::To(State::NeedsBuild))
    );
    assert_eq!(
        decide_command(State::Uploaded, UploadRemove),
        Ok(Target::To(State::Built))
    );
    assert!(decide_command(State::Installed, UploadRemove).is_err());
    assert_eq!(
        decide_command(State::FailedToUpload, SignedChanges),
        Ok(Target::Upload)
    );
    assert_eq!(
        decide_command(State::FailedToUpload, RetryUpload),
        Ok(Target::Upload)
    );
    assert!(decide_command(State::Built, RetryUpload).is_err());
    assert!(decide_command(State::Uploaded, SignedChanges).is_err());
    let refusal = decide_command(State::NeedsBuild, Retry).unwrap_err();
    assert!(refusal.contains("the build is Needs-Build"), "{refusal}");
    assert!(
        refusal.contains("Building, Built, Build-Attempted"),
        "{refusal}"
    );
    assert_eq!(
        decide_command(State::Failed, ShouldBuildYes),
        Ok(Target::To(State::NeedsBuild))
    );
    assert_eq!(
        decide_command(State::DepWait, ShouldBuildNot),
        Ok(Target::To(State::NotForUs))
    );
    assert!(decide_command(State::Installed, ShouldBuildYes).is_err());
}

#[test]
fn every_event_has_exactly_one_row() {
    for (i, a) in TRANSITIONS.iter().enumerate() {
        for b in TRANSITIONS.iter().skip(i + 1) {
            assert_ne!(a.event, b.event);
        }
    }
}

#[test]
fn diagram_lists_every_row() {
    let edges = edges();
    let has = |from: State, to: State, event: &str| {
        edges
            .iter()
            .any(|e| e.from == from && e.to == to && e.events.iter().any(|n| n == event))
    };
    assert!(has(State::Building, State::Built, "log:successful"));
    assert!(has(
        State::BuildAttempted,
        State::NeedsBuild,
        "log:given-back"
    ));
    // A log mail is a builder's report: admin- and archive-decided states
    // have no log edges.
    for s in [
        State::Failed,
        State::DepWait,
        State::NotForUs,
        State::Uploaded,
        State::Installed,
        State::FailedToUpload,
    ] {
        assert!(!has(s, State::Built, "log:successful"), "{s:?}");
    }
    assert!(has(
        State::Built,
        State::FailedToUpload,
        "cmd:signed .changes"
    ));
    assert!(has(State::Uploaded, State::Built, "cmd:upload-rem"));
    // Every row of the table is drawn, and parallel edges are merged: one
    // edge per pair of states.
    let drawn: usize = edges.iter().map(|e| e.events.len()).sum();
    assert!(drawn >= TRANSITIONS.len());
    for (i, a) in edges.iter().enumerate() {
        for b in edges.iter().skip(i + 1) {
            assert!(!(a.from == b.from && a.to == b.to), "{a:?} / {b:?}");
        }
    }
    let dot = diagram_dot();
    assert!(dot.starts_with("digraph buildmail {"));
    // Loops are listed in the state's box; every other edge is drawn once.
    let moving = edges.iter().filter(|e| e.from != e.to).count();
    assert_eq!(dot.matches(" -> ").count(), moving);
    for e in edges.iter().filter(|e| e.from == e.to) {
        for ev in &e.events {
            assert!(dot.contains(ev.as_str()), "{ev} is not in the diagram");
        }
    }
    for s in State::ALL {
        assert_eq!(
            dot.matches(&format!("    \"{}\" [label=", s.as_str()))
                .count(),
            1,
            "{s:?}"
        );
    }
    let json = diagram_json();
    assert_eq!(json["edges"].as_array().unwrap().len(), edges.len());
    assert_eq!(json["states"].as_array().unwrap().len(), State::ALL.len());
}
