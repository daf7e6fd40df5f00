//! A build farm in a temporary directory for end-to-end tests: a real sled
//! database (or, in the PostgreSQL pass, a fresh PostgreSQL database of
//! its own: [`super::pg`]), keyring, build directory, upload queue and outbox, and helpers
//! to send it log mails and (signed) admin replies.

use std::path::{Path, PathBuf};

use buildmail::config::Config;
use buildmail::effects::StoreAccess;
use buildmail::ingest::{Ingest, Outcome};
use buildmail::model::state::State;
use buildmail::model::{BuildKey, BuildRecord, HistoryEntry};
use buildmail::time::FixedClock;
use md5::Md5;
use sha1collisiondetection::Sha1CD;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::keys::*;
use super::logs::{sbuild_log, LogSpec};
use super::TextMail;

pub const ADMIN: &str = "admin@example.org";

/// The time on every farm's clock: an hour after the test keys' `T0`.
pub const FARM_NOW: i64 = T0 + 3600;

/// "Now" on the farm's clock (ingestion and effects run at this time).
pub fn now() -> i64 {
    FARM_NOW
}

/// The wall clock (for what real tools such as GnuPG sign).
pub fn wall_now() -> i64 {
    buildmail::time::Clock::now(&buildmail::time::SystemClock)
}

/// A signature made a minute before the farm's "now".
pub fn fresh() -> SignSpec {
    SignSpec::at(now() - 60)
}

/// A build farm in a temporary directory: config, keyring, build directory,
/// upload queue, outbox.
pub struct Farm {
    /// The farm's root directory.
    pub dir: tempfile::TempDir,
    /// Its configuration.
    pub cfg: Config,
    /// The same configuration as TOML (for the binary: [`Farm::cli`]).
    pub toml: String,
    /// The farm's clock, at [`FARM_NOW`] unless a test moves it.
    pub clock: Arc<FixedClock>,
    /// Its PostgreSQL database in the PostgreSQL pass (dropped last).
    pub pg: Option<super::pg::TestDb>,
}

impl Farm {
    pub fn new() -> Farm {
        Farm::with("")
    }

    /// A farm with extra TOML appended to the configuration.
    pub fn with(extra: &str) -> Farm {
        Farm::with_database(super::pg::TestDb::create(), extra)
    }

    /// A farm on the PostgreSQL database `pg` (`None`: on sled).
    pub fn with_database(pg: Option<super::pg::TestDb>, extra: &str) -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("admins.asc"), shared_ed25519().armored_public()).unwrap();
        std::fs::create_dir_all(dir.path().join("build")).unwrap();
        let url = pg.as_ref().map(|p| p.url.as_str());
        let toml = Farm::toml(dir.path(), url, extra);
        let cfg = Config::from_toml(&toml, None).unwrap();
        Farm {
            dir,
            cfg,
            toml,
            clock: FixedClock::at(FARM_NOW),
            pg,
        }
    }

    /// Another host of `farm`'s build farm: the same configuration (data
    /// directory, build and queue directories, PostgreSQL database), its
    /// own `database.path` (the worker's lock) and control socket, as a
    /// second machine would have. Only for the PostgreSQL pass.
    pub fn beside(farm: &Farm) -> Farm {
        assert!(farm.pg.is_some(), "a second host needs the PostgreSQL pass");
        let dir = tempfile::tempdir().unwrap();
        let mut toml = farm.toml.replacen(
            "[database]\n",
            &format!("[database]\npath = {:?}\n", dir.path().join("db")),
            1,
        );
        let control = format!("control = {:?}\n", dir.path().join("control.sock"));
        toml = if toml.contains("[serve]\n") {
            toml.replacen("[serve]\n", &format!("[serve]\n{control}"), 1)
        } else {
            format!("{toml}\n[serve]\n{control}")
        };
        let cfg = Config::from_toml(&toml, None).unwrap();
        Farm {
            dir,
            cfg,
            toml,
            clock: FixedClock::at(FARM_NOW),
            pg: None,
        }
    }

    /// Loses every archived log: the archive's directory, or the
    /// PostgreSQL database's log blobs.
    pub fn lose_log_archive(&self) {
        self.lose_blobs("logs", &self.cfg.database.log_archive);
    }

    /// Loses every kept mail blob (the mail store's directory, or the
    /// PostgreSQL database's mail blobs).
    pub fn lose_mail_blobs(&self) {
        self.lose_blobs("mails", &self.cfg.database.mail_blobs);
    }

    fn lose_blobs(&self, store: &str, dir: &Path) {
        match &self.pg {
            Some(db) => {
                db.client()
                    .execute("DELETE FROM blobs WHERE store = $1", &[&store])
                    .unwrap();
            }
            None => std::fs::remove_dir_all(dir).unwrap(),
        }
    }

    pub fn config(root: &Path, extra: &str) -> Config {
        Config::from_toml(&Farm::toml(root, None, extra), None).unwrap()
    }

    /// The farm's TOML; `url`: its PostgreSQL database.
    fn toml(root: &Path, url: Option<&str>, extra: &str) -> String {
        let data = root.join("data");
        // The admin who writes the farm's replies is a known sender: their
        // refused unsigned mail is answered (strangers' is not).
        let known = format!("known_senders = [{ADMIN:?}, \"buildd-admin@example.org\"]\n");
        let extra = if extra.contains("[replies]\n") {
            extra.replacen("[replies]\n", &format!("[replies]\n{known}"), 1)
        } else {
            format!("{extra}\n[replies]\n{known}")
        };
        let url = url.map_or(String::new(), |u| format!("url = {u:?}\n"));
        format!(
            "data_dir = {data:?}\nfrom_address = \"buildd@example.org\"\n\
                 [database]\nlock_timeout = \"2s\"\n{url}\
                 [signatures]\nkeyrings = [{:?}, {:?}]\n\
                 [upload]\nbuild_dir = {:?}\nqueue_dir = {:?}\ntimeout = \"20s\"\n{extra}",
            data.join("admins.asc"),
            data.join("gpg.asc"),
            root.join("build"),
            root.join("queue"),
        )
    }

    /// Changes the extra configuration (e.g. another upload command).
    pub fn reconfigure(&mut self, extra: &str) {
        let url = self.pg.as_ref().map(|p| p.url.as_str());
        self.toml = Farm::toml(self.dir.path(), url, extra);
        self.cfg = Config::from_toml(&self.toml, None).unwrap();
    }

    /// The `buildmail` binary with this farm's configuration (written to
    /// `buildmail.toml` in the farm), running on the system clock.
    pub fn cli(&self, args: &[&str]) -> std::process::Command {
        let path = self.root().join("buildmail.toml");
        // Written whole before it is seen (several commands start at
        // once), and only when it changed.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(self.toml.as_str()) {
            let tmp = tempfile::NamedTempFile::new_in(self.root()).unwrap();
            std::fs::write(tmp.path(), &self.toml).unwrap();
            tmp.persist(&path).unwrap();
        }
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_buildmail"));
        c.arg("--config").arg(&path).args(args);
        c.env_remove("BUILDMAIL_CONFIG")
            .env_remove("BUILDMAIL_CRASH_AT");
        c
    }

    /// Runs the `buildmail deliver` binary on `raw` (environment `env`
    /// added; `RUST_LOG` and `BUILDMAIL_LOG` removed) and returns its output.
    pub fn deliver_binary(&self, raw: &[u8], env: &[(&str, &str)]) -> std::process::Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut cmd = self.cli(&["deliver"]);
        cmd.env_remove("RUST_LOG").env_remove("BUILDMAIL_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A deliver that exits early closes its stdin: ignore EPIPE.
        let _ = child.stdin.take().unwrap().write_all(raw);
        child.wait_with_output().unwrap()
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn build_dir(&self) -> PathBuf {
        self.root().join("build")
    }

    /// Ingests one mail like `deliver` does: commit, flush, run the queued
    /// work. The store is closed afterwards (as between two deliveries).
    pub fn deliver(&self, raw: &[u8]) -> Outcome {
        let out = self.ingest_only(raw);
        self.work();
        out
    }

    /// Commits one mail as `deliver` does, without running the worker.
    pub fn ingest_only(&self, raw: &[u8]) -> Outcome {
        let store = buildmail::store::open(&self.cfg.database).unwrap();
        let out = Ingest::new(&*store, &self.cfg)
            .with_clock(self.clock.clone())
            .mail(raw)
            .unwrap();
        store.flush().unwrap();
        out
    }

    /// Runs the queued effects as the worker does: each step opens the
    /// store and closes it again.
    pub fn work(&self) -> buildmail::effects::worker::Summary {
        buildmail::effects::worker::run_pending(
            StoreAccess::Open(&self.cfg.database),
            &self.cfg,
            &*self.clock,
        )
        .unwrap()
    }

    /// Delivers every live mail of the outbox now, as `outbox flush` does,
    /// through a store the caller holds: (delivered, failed).
    pub fn flush_outbox(&self, store: &dyn buildmail::store::Store) -> (usize, usize) {
        let d = buildmail::effects::outbox::deliver_due(
            StoreAccess::Held(store),
            &self.cfg,
            &*self.clock,
            true,
        )
        .unwrap();
        (d.delivered, d.failed)
    }

    /// Writes the build's files and delivers the admins' signed `.changes`
    /// for it, as a reply to its successful log (in unstable).
    pub fn send_signed_changes(&self, src: &str, ver: &str, arch: &str) -> Outcome {
        let changes = self.build_files(src, ver, arch);
        let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
        self.deliver(&reply(
            &log_subject("successful", src, ver, arch),
            &signed,
            None,
        ))
    }

    /// Delivers a log mail; returns its Message-ID.
    pub fn log(&self, status: &str, src: &str, ver: &str, arch: &str, dist: &str) -> String {
        let spec = LogSpec::new(src, ver, arch, dist, status);
        let subject = super::sbuild_subject(status, src, ver, arch, dist);
        let mid = super::unique_message_id();
        let raw =
            super::with_message_id(&super::log_mail_plain(&subject, &sbuild_log(&spec)), &mid);
        assert!(matches!(self.deliver(&raw), Outcome::Log { .. }));
        mid
    }

    pub fn record(&self, src: &str, dist: &str, arch: &str) -> BuildRecord {
        let store = buildmail::store::open(&self.cfg.database).unwrap();
        store
            .build(&key(src, dist, arch))
            .unwrap()
            .expect("build record")
    }

    pub fn state(&self, src: &str) -> State {
        self.record(src, "unstable", "amd64").state
    }

    pub fn history(&self, src: &str, arch: &str) -> Vec<HistoryEntry> {
        let store = buildmail::store::open(&self.cfg.database).unwrap();
        store.history(&key(src, "unstable", arch)).unwrap()
    }

    /// File names in a directory (empty when it does not exist).
    pub fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn queue(&self) -> Vec<String> {
        Farm::files_in(&self.root().join("queue"))
    }

    /// The error replies written to the outbox: each mail's header block
    /// as written, then its body decoded (lettre may have chosen
    /// quoted-printable). Only the `.eml` files: a mail being written is a
    /// temporary file beside them until it is renamed.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.root().join("data/outbox");
        Farm::files_in(&dir)
            .iter()
            // A mail being written is a dot file until its rename.
            .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
            .map(|n| {
                let raw = std::fs::read(dir.join(n)).unwrap();
                let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
                let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                format!(
                    "{}\n\n{}",
                    String::from_utf8_lossy(&raw[..head_end]),
                    msg.body_text(0).unwrap()
                )
            })
            .collect()
    }

    /// Writes the files of a build into the build directory and returns a
    /// real `.changes` for them (unsigned).
    pub fn build_files(&self, src: &str, ver: &str, arch: &str) -> String {
        let file_ver = ver.split_once(':').map_or(ver, |(_, v)| v);
        let files = [
            (
                format!("{src}_{file_ver}_{arch}.deb"),
                format!("!<arch>\n{src} {ver} payload\n"),
            ),
            (
                format!("{src}_{file_ver}_{arch}.buildinfo"),
                format!("Format: 1.0\nSource: {src}\nVersion: {ver}\n"),
            ),
        ];
        let mut sha1 = String::new();
        let mut sha256 = String::new();
        let mut md5 = String::new();
        for (name, content) in &files {
            std::fs::write(self.build_dir().join(name), content).unwrap();
            let n = content.len();
            sha1.push_str(&format!(
                " {} {n} {name}\n",
                hex::encode(Sha1CD::digest(content))
            ));
            sha256.push_str(&format!(
                " {} {n} {name}\n",
                hex::encode(Sha256::digest(content))
            ));
            md5.push_str(&format!(
                " {} {n} devel optional {name}\n",
                hex::encode(Md5::digest(content))
            ));
        }
        changes(src, ver, arch, "unstable", &sha1, &sha256, &md5)
    }
}

pub fn changes(
    src: &str,
    ver: &str,
    arch: &str,
    dist: &str,
    sha1: &str,
    sha256: &str,
    md5: &str,
) -> String {
    format!(
        "Format: 1.8\nDate: Mon, 15 Jan 2024 09:58:12 +0000\nSource: {src}\nBinary: {src}\n\
         Architecture: {arch}\nVersion: {ver}\nDistribution: {dist}\nUrgency: medium\n\
         Maintainer: Test Maintainer <maint@example.org>\n\
         Changed-By: Buildd Daemon <buildd@example.org>\n\
         Description:\n {src} - test package\n\
         Changes:\n {src} ({ver}) {dist}; urgency=medium\n .\n   * Binary-only rebuild.\n\
         Checksums-Sha1:\n{sha1}Checksums-Sha256:\n{sha256}Files:\n{md5}"
    )
}

pub fn key(src: &str, dist: &str, arch: &str) -> BuildKey {
    BuildKey {
        dist: dist.into(),
        arch: arch.into(),
        source: src.into(),
    }
}

pub fn log_subject(status: &str, src: &str, ver: &str, arch: &str) -> String {
    format!("Re: Log for {status} build of {src}_{ver} on {arch} (dist=unstable)")
}

/// A reply mail from the admin with `body` as its 8bit text.
pub fn reply(subject: &str, body: &[u8], in_reply_to: Option<&str>) -> Vec<u8> {
    let body = String::from_utf8(body.to_vec()).unwrap();
    let mut m = TextMail::new(ADMIN, "buildd@example.org", subject, &body);
    m.in_reply_to = in_reply_to;
    m.build()
}

/// A reply whose text is `text` clearsigned by the admins' key, the
/// command bound to the build the subject names (see [`bind`]).
pub fn signed_reply(subject: &str, text: &str) -> Vec<u8> {
    reply(
        subject,
        &clearsign(shared_ed25519(), bind(subject, text).as_bytes(), fresh()),
        None,
    )
}

/// `text` with its command bound to the build `subject` names, as an admin
/// writes it: `retry` becomes `retry hello_1.0-1 dist=unstable arch=amd64`
/// (arguments follow). A subject without an architecture binds to the
/// farm's default one (amd64). Subjects that name no build leave `text` as
/// it is.
pub fn bind(subject: &str, text: &str) -> String {
    bind_arch(subject, Some("amd64"), text)
}

/// [`bind`], with the architecture to name when the subject names none.
pub fn bind_arch(subject: &str, default_arch: Option<&str>, text: &str) -> String {
    use buildmail::inbound::mail;
    let named = mail::parse_reply_subject(subject)
        .or_else(|| mail::parse_notification_reply_subject(subject))
        .map(|s| (s.source, s.version, Some(s.dist), s.arch))
        .or_else(|| {
            mail::parse_should_build_subject(subject).map(|(s, v, d)| (s, v, Some(d), None))
        });
    let Some((src, ver, dist, arch)) = named else {
        return text.to_string();
    };
    let mut binding = format!("{src}_{ver}");
    if let Some(d) = dist {
        binding.push_str(&format!(" dist={d}"));
    }
    if let Some(a) = arch.as_deref().or(default_arch) {
        binding.push_str(&format!(" arch={a}"));
    }
    let lead = text.len() - text.trim_start().len();
    let body = &text[lead..];
    let word_end = body.find(char::is_whitespace).unwrap_or(body.len());
    let (word, rest) = body.split_at(word_end);
    let rest = match rest.strip_prefix(' ') {
        Some(args) => format!(" {args}"),
        None => rest.to_string(),
    };
    format!("{}{word} {binding}{rest}", &text[..lead])
}

/// Asserts a refusal: the outcome says so (and mentions `why`), the state
/// is still `state`, the queue is empty, and an error reply quoting the
/// reason went out.
pub fn assert_refused(farm: &Farm, out: &Outcome, src: &str, state: State, why: &str) {
    let Outcome::Reply {
        applied, reasons, ..
    } = out
    else {
        panic!("not a reply outcome: {out:?}");
    };
    assert!(!applied, "{out:?}");
    let all = reasons.join("\n");
    assert!(all.contains(why), "reasons {all:?} lack {why:?}");
    assert_eq!(farm.state(src), state, "the state moved");
    assert!(farm.queue().is_empty(), "upload queue: {:?}", farm.queue());
    let outbox = farm.outbox();
    assert!(
        outbox
            .iter()
            .any(|m| m.contains("Your mail could not be processed:")
                && m.contains(&why[..why.len().min(30)])),
        "no error reply mentioning {why:?}: {outbox:?}"
    );
}

pub fn applied_state(out: &Outcome) -> State {
    match out {
        Outcome::Reply {
            applied: true,
            state: Some(s),
            ..
        } => *s,
        other => panic!("not applied: {other:?}"),
    }
}

/// Writes an upload script into the farm's root and returns its config.
pub fn upload_script(farm: &Farm, body: &str) -> String {
    let path = farm.root().join("upload.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("command = [{:?}, \"{{changes}}\", \"{{dist}}\"]\n", path)
}
