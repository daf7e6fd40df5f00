//! Outbox throughput: mails/s from the sled outbox to a local SMTP server
//! (lettre, one connection per mail), and to `.eml` files, durably recorded
//! as delivered. `cargo bench --bench outbox`.

#[path = "../tests/it/support/smtp.rs"]
#[allow(dead_code)] // the bench uses only part of the test server
mod smtp;

use std::time::Instant;

use buildmail::config::Config;
use buildmail::effects::compose;
use buildmail::store::Commit;

const MAILS: usize = 2000;

fn main() {
    let server = smtp::SmtpServer::start();
    for (name, extra) in [
        (
            "SMTP to a local server",
            format!(
                "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\n",
                server.url()
            ),
        ),
        (
            "file (.eml, fsync each)",
            "[outbox]\ntransport = \"file\"\n".to_string(),
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = Config::from_toml(
            &format!("data_dir = {:?}\n{extra}", dir.path().join("data")),
            None,
        )
        .expect("config");
        let store = buildmail::store::open(&cfg.database).expect("store");
        let now = buildmail::time::Clock::now(&buildmail::time::SystemClock);
        let mailer = compose::Mailer::new(&cfg);
        for i in 0..MAILS {
            let raw = format!(
                "From: dev@example.org\r\nTo: buildd@example.org\r\nSubject: question {i}\r\nMessage-ID: <q{i}@example.org>\r\n\r\n{}\r\n",
                "A question about the buildd.\r\n".repeat(20)
            );
            let id = store.generate_id().expect("id");
            let sha256 = buildmail::inbound::source::content_sha256(raw.as_bytes());
            let forward = compose::forwarded(
                &mailer,
                raw.as_bytes(),
                buildmail::model::Carried::Stored(sha256.clone()),
                None,
                Some(&format!("q{i}@example.org")),
                id,
                now,
            );
            store
                .commit(&Commit {
                    now,
                    mail: Some(buildmail::model::MailRecord {
                        sha256,
                        message_id: None,
                        received: now,
                        kind: "other".into(),
                        outcome: "forwarded".into(),
                        build: None,
                    }),
                    unhandled: Some(raw.as_bytes()),
                    outbox: vec![forward],
                    ..Commit::default()
                })
                .expect("queue");
        }
        store.flush().expect("flush");
        let before = server.received().len();
        let start = Instant::now();
        let buildmail::effects::outbox::Delivery {
            delivered, failed, ..
        } = buildmail::effects::outbox::deliver_due(
            buildmail::effects::StoreAccess::Held(&*store),
            &cfg,
            &buildmail::time::SystemClock,
            true,
        )
        .expect("deliver");
        let secs = start.elapsed().as_secs_f64();
        assert_eq!((delivered, failed), (MAILS, 0));
        if name.starts_with("SMTP") {
            assert_eq!(server.received().len() - before, MAILS);
        }
        println!(
            "{name}: {MAILS} mails of ~{} bytes in {secs:.2} s = {:.0} mails/s",
            700,
            MAILS as f64 / secs
        );
    }
}
