use super::*;

#[test]
fn the_builtin_templates_load() {
    let t = Templates::load(None).unwrap();
    for kind in Kind::ALL {
        assert!(t.env.get_template(kind.file_name()).is_ok(), "{kind:?}");
    }
}

#[test]
fn subjects_get_one_re() {
    assert_eq!(reply_subject("Log for x"), "Re: Log for x");
    assert_eq!(reply_subject("RE: Log for x"), "RE: Log for x");
}

#[test]
fn error_reply_has_the_required_parts() {
    let answer = Answer {
        to: "admin@example.org".into(),
        subject: "Re: Log for successful build of hello_1.0-1 (dist=sid)".into(),
        message_id: Some("r1@example.org".into()),
        references: vec!["log1@buildd".into()],
        quoted: "> retry\n".into(),
        signed: true,
    };
    let t = Templates::load(None).unwrap();
    let mail = error_reply(
        &t,
        "buildd@example.org",
        &answer,
        Answered::Refused,
        &["first reason".into(), "second reason".into()],
        &[],
        7,
        1_700_000_000,
    )
    .unwrap();
    let text = String::from_utf8(mail.bytes).unwrap();
    assert!(text.contains("In-Reply-To: <r1@example.org>"), "{text}");
    assert!(text.contains("References: <log1@buildd> <r1@example.org>"));
    assert!(text.contains("Auto-Submitted: auto-replied"));
    assert!(text.contains("Subject: Re: Log for successful build of hello_1.0-1"));
    assert!(
        text.contains("Your mail could not be processed:\r\nfirst reason\r\nsecond reason\r\n"),
        "{text}"
    );
    assert!(text.contains("> retry"));
    assert_eq!(mail.to, vec!["admin@example.org".to_string()]);
}

#[test]
fn durations_and_wrapping() {
    assert_eq!(human_duration(3725), "1 hour, 2 minutes, 5 seconds");
    assert_eq!(human_duration(0), "0 seconds");
    let w = wrap(&"word ".repeat(40), 72);
    assert!(w.lines().all(|l| l.len() <= 72), "{w}");
    assert_eq!(w.split_whitespace().count(), 40);
}

#[test]
fn reasons_name_every_role() {
    let r = Recipient {
        address: "a@example.org".into(),
        roles: vec![Role::BuilddAdmin, Role::Creator],
    };
    assert_eq!(
        r.reason(),
        "You are receiving this email because you are a buildd administrator and you created this version of this package."
    );
}
