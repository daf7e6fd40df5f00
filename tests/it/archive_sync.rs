//! The archive side: a test archive (Sources, Packages, InRelease signed by
//! a test key) that changes between syncs, driving every archive-driven
//! transition; hostile archives refused with nothing changed; the queue
//! order and `take`.

use crate::support::archive::*;
use crate::support::farm::*;
use crate::support::keys::*;
use buildmail::model::{BuildRecord, State};
use buildmail::store::Commit;
use buildmail::sync::{self, Read, SyncError};
use sha2::{Digest, Sha256};

const DAY: i64 = 86400;

/// Runs a sync at `now` as `buildmail sync` does.
fn sync_at(farm: &Farm, now: i64) -> Result<sync::SuiteReport, SyncError> {
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let seen = store.release_seen("unstable").unwrap();
    match sync::read_suite(&farm.cfg, "unstable", seen.as_ref(), now)? {
        Read::Unchanged(suite) => Ok(sync::SuiteReport {
            suite,
            unchanged: true,
            ..Default::default()
        }),
        Read::New(data) => {
            let mailer = buildmail::effects::compose::Mailer::new(&farm.cfg);
            sync::merge(
                buildmail::effects::StoreAccess::Held(&*store),
                &mailer,
                &data,
                now,
                &mut |_| true,
            )
        }
    }
}

fn all(farm: &Farm) -> Vec<BuildRecord> {
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let mut v: Vec<BuildRecord> = store.all_builds().map(Result::unwrap).collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

/// Runs the CLI; its standard output, after checking it succeeded.
fn cli_ok(farm: &Farm, args: &[&str]) -> String {
    let out = farm.cli(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The sources in the queue of unstable/`arch`, in order.
fn queue_names(farm: &Farm, arch: &str) -> Vec<String> {
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    sync::queue(&*store, &farm.cfg.archive, "unstable", arch)
        .unwrap()
        .into_iter()
        .map(|r| r.key.source)
        .collect()
}

fn state(farm: &Farm, src: &str, arch: &str) -> Option<State> {
    all(farm)
        .into_iter()
        .find(|r| r.key.source == src && r.key.arch == arch)
        .map(|r| r.state)
}

/// `take` on unstable/`arch` with the farm's queue order.
fn take(
    store: &dyn buildmail::store::Store,
    farm: &Farm,
    arch: &str,
    builder: &str,
    source: Option<&str>,
    now: i64,
) -> Result<BuildRecord, sync::TakeError> {
    sync::take(
        store,
        &farm.cfg.archive,
        "unstable",
        arch,
        builder,
        source,
        now,
    )
}

/// Changes a build's record as an admin's command would have.
fn update(farm: &Farm, src: &str, arch: &str, change: impl FnOnce(&mut BuildRecord)) {
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let mut r = store
        .build(&key(src, "unstable", arch))
        .unwrap()
        .expect("record");
    change(&mut r);
    store
        .commit(&Commit {
            now: FARM_NOW,
            build: Some(r),
            ..Commit::default()
        })
        .unwrap();
    store.flush().unwrap();
}

/// Sets a build's state (and Dep-Wait dependencies).
fn set_state(farm: &Farm, src: &str, arch: &str, to: State, depends: Option<&str>) {
    update(farm, src, arch, |r| {
        r.state = to;
        r.depends = depends.map(str::to_string);
    });
}

const SOURCES_V1: &str = "\
Package: hello\nVersion: 1.0-1\nArchitecture: any\nBuild-Depends: debhelper-compat (= 13), libfoo-dev (>= 2.0)\nSection: devel\nPriority: optional\n\n\
Package: data\nVersion: 1-1\nArchitecture: all\nSection: misc\nPriority: optional\n\n\
Package: hurdonly\nVersion: 1-1\nArchitecture: hurd-any\nSection: admin\nPriority: optional\n\n\
Package: base\nVersion: 1-1\nArchitecture: any\nSection: admin\nPriority: required\n\n\
Package: lib\nVersion: 1-1\nArchitecture: linux-any\nSection: libs\nPriority: optional\n\n\
Package: game\nVersion: 1-1\nArchitecture: any-amd64 any-arm64\nSection: games\nPriority: optional\n\n\
Package: done\nVersion: 1-1\nArchitecture: any all\nSection: utils\nPriority: optional\n";

const PACKAGES_AMD64_V1: &str = "\
Package: debhelper-compat\nVersion: 13\nArchitecture: all\n\n\
Package: libfoo-dev\nVersion: 1.9-1\nArchitecture: amd64\nSource: foo (1.9-1)\n\n\
Package: data-files\nVersion: 1-1\nArchitecture: all\nSource: data\n\n\
Package: done-bin\nVersion: 1-1+b1\nArchitecture: amd64\nSource: done (1-1)\n";

const PACKAGES_ARM64_V1: &str = "\
Package: debhelper-compat\nVersion: 13\nArchitecture: all\n\n\
Package: data-files\nVersion: 1-1\nArchitecture: all\nSource: data\n";

fn v1(signer: &TestKey) -> Snapshot<'_> {
    Snapshot {
        date: FARM_NOW - DAY,
        valid_until: Some(FARM_NOW + 6 * DAY),
        sources: SOURCES_V1,
        packages: &[("amd64", PACKAGES_AMD64_V1), ("arm64", PACKAGES_ARM64_V1)],
        signer,
    }
}

#[test]
fn sync_creates_builds_from_the_archive_and_the_queue_serves_them_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    let r = sync_at(&farm, FARM_NOW).unwrap();
    assert_eq!(r.sources, 7);

    // Build-dependency not installable: BD-Uninstallable, naming it.
    assert_eq!(state(&farm, "hello", "amd64"), Some(State::BdUninstallable));
    let hello = farm.record("hello", "unstable", "amd64");
    assert_eq!(
        hello.source.unwrap().uninstallable.as_deref(),
        Some("libfoo-dev (>= 2.0) is not available on amd64")
    );
    // Architecture: all is built on the arch-all builder only, and its
    // binaries are there.
    assert_eq!(state(&farm, "data", "amd64"), Some(State::Installed));
    assert_eq!(state(&farm, "data", "arm64"), None);
    // Not for Linux architectures at all.
    assert_eq!(state(&farm, "hurdonly", "amd64"), None);
    // Binaries (of a binNMU of that source version) are in the archive.
    assert_eq!(state(&farm, "done", "amd64"), Some(State::Installed));
    assert_eq!(state(&farm, "done", "arm64"), Some(State::NeedsBuild));
    // Wildcards.
    assert_eq!(state(&farm, "game", "arm64"), Some(State::NeedsBuild));
    assert_eq!(state(&farm, "lib", "arm64"), Some(State::NeedsBuild));
    let h = farm.history("base", "amd64");
    assert_eq!(h[0].event, "sync:new-version");

    // The queue: required first, then libs, utils, games.
    assert_eq!(queue_names(&farm, "amd64"), ["base", "lib", "game"]);
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    // Two builders take in turn: never the same build.
    let a = take(&*store, &farm, "amd64", "buildd-a", None, FARM_NOW).unwrap();
    let b = take(&*store, &farm, "amd64", "buildd-b", None, FARM_NOW).unwrap();
    assert_eq!(
        (a.key.source.as_str(), b.key.source.as_str()),
        ("base", "lib")
    );
    assert_eq!(a.state, State::Building);
    assert_eq!(a.taken_by.as_deref(), Some("buildd-a"));
    // Asking for a build another builder took names who has it.
    let e = take(&*store, &farm, "amd64", "buildd-b", Some("base"), FARM_NOW).unwrap_err();
    assert!(e.to_string().contains("it is Building"), "{e}");
    take(&*store, &farm, "amd64", "buildd-b", None, FARM_NOW).unwrap();
    let e = take(&*store, &farm, "amd64", "buildd-a", None, FARM_NOW).unwrap_err();
    assert!(
        e.to_string().contains("queue of unstable/amd64 is empty"),
        "{e}"
    );
    drop(store);

    // The same signed Release again: nothing to do.
    assert!(sync_at(&farm, FARM_NOW + 60).unwrap().unchanged);
}

#[test]
fn the_archive_resolves_waits_and_removals_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    set_state(
        &farm,
        "done",
        "arm64",
        State::DepWait,
        Some("libbar-dev (>= 1.5)"),
    );
    set_state(&farm, "lib", "arm64", State::Failed, None);
    set_state(&farm, "game", "arm64", State::DepWait, Some("libnever-dev"));

    // The next day: libfoo-dev 2.1 on amd64; libbar-dev provided (versioned)
    // on arm64; lib gone from the archive; lib's amd64 binaries in.
    let sources_v2 = SOURCES_V1.replace(
        "Package: lib\nVersion: 1-1\nArchitecture: linux-any\nSection: libs\nPriority: optional\n\n",
        "",
    );
    let amd64 = format!(
        "{PACKAGES_AMD64_V1}\nPackage: libfoo-dev\nVersion: 2.1-1\nArchitecture: amd64\nSource: foo (2.1-1)\n"
    );
    let arm64 = format!(
        "{PACKAGES_ARM64_V1}\nPackage: libbar2-dev\nVersion: 3-1\nArchitecture: arm64\nSource: bar\nProvides: libbar-dev (= 1.6)\n"
    );
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW,
            valid_until: Some(FARM_NOW + 7 * DAY),
            sources: &sources_v2,
            packages: &[("amd64", &amd64), ("arm64", &arm64)],
            signer: archive_key(),
        },
    );
    let r = sync_at(&farm, FARM_NOW + 60).unwrap();
    // BD-Uninstallable resolves by itself once installable.
    assert_eq!(state(&farm, "hello", "amd64"), Some(State::NeedsBuild));
    assert_eq!(state(&farm, "hello", "arm64"), Some(State::BdUninstallable));
    // Dep-Wait leaves by itself, through a versioned Provides, naming it.
    assert_eq!(state(&farm, "done", "arm64"), Some(State::NeedsBuild));
    let h = farm.history("done", "arm64");
    let last = h.last().unwrap();
    assert_eq!(last.event, "sync:dependencies-available");
    assert!(last
        .note
        .as_deref()
        .unwrap()
        .contains("libbar-dev (>= 1.5)"));
    // A wait for what never comes stays.
    assert_eq!(state(&farm, "game", "arm64"), Some(State::DepWait));
    // The removed source: Failed keeps its information as Failed-Removed;
    // the Needs-Build one leaves the queue.
    assert_eq!(state(&farm, "lib", "arm64"), Some(State::FailedRemoved));
    assert_eq!(state(&farm, "lib", "amd64"), Some(State::NeedsBuild));
    let q = queue_names(&farm, "amd64");
    assert!(!q.contains(&"lib".to_string()), "{q:?}");
    assert!(r.events.contains_key("sync:failed-removed"), "{r:?}");

    // It comes back: Failed again, with its history.
    let sources_v3 = format!("{sources_v2}\nPackage: lib\nVersion: 1-1\nArchitecture: linux-any\nSection: libs\nPriority: optional\n");
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW + DAY,
            valid_until: Some(FARM_NOW + 8 * DAY),
            sources: &sources_v3,
            packages: &[("amd64", &amd64), ("arm64", &arm64)],
            signer: archive_key(),
        },
    );
    sync_at(&farm, FARM_NOW + DAY + 60).unwrap();
    assert_eq!(state(&farm, "lib", "arm64"), Some(State::Failed));
    let q = queue_names(&farm, "amd64");
    assert!(q.contains(&"lib".to_string()), "back in the queue: {q:?}");

    // A new version: Needs-Build again, the old failure gone.
    let sources_v4 = sources_v3.replace("Package: lib\nVersion: 1-1", "Package: lib\nVersion: 1-2");
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW + 2 * DAY,
            valid_until: Some(FARM_NOW + 9 * DAY),
            sources: &sources_v4,
            packages: &[("amd64", &amd64), ("arm64", &arm64)],
            signer: archive_key(),
        },
    );
    sync_at(&farm, FARM_NOW + 2 * DAY + 60).unwrap();
    let lib = farm.record("lib", "unstable", "arm64");
    assert_eq!(
        (lib.state, lib.version.as_str()),
        (State::NeedsBuild, "1-2")
    );
    assert_eq!(lib.previous_state, Some(State::Failed));
}

/// Runs a sync that must be refused with `why`, and checks that nothing
/// changed.
fn refused(farm: &Farm, now: i64, why: &str) {
    let before = all(farm);
    let e = sync_at(farm, now).unwrap_err().to_string();
    assert!(e.contains(why), "{e}");
    assert_eq!(all(farm), before, "nothing changed");
}

#[test]
fn hostile_archives_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    let inrelease = root.join("dists/unstable/InRelease");
    let good = std::fs::read(&inrelease).unwrap();

    // Signed by a key the archive keyring does not hold.
    let stranger = make_key(KeySpec {
        uid: "Mallory <mallory@attacker.example>".into(),
        ..KeySpec::default()
    });
    let next = |signer| Snapshot {
        date: FARM_NOW + DAY,
        valid_until: Some(FARM_NOW + 8 * DAY),
        sources: "Package: evil\nVersion: 1-1\nArchitecture: any\n",
        packages: &[("amd64", ""), ("arm64", "")],
        signer,
    };
    publish(&root, &next(&stranger));
    refused(&farm, FARM_NOW + DAY, "no good signature");

    // The genuine InRelease with one byte of its text changed.
    publish(&root, &v1(archive_key()));
    let tampered = String::from_utf8(good.clone())
        .unwrap()
        .replace("Suite: unstable", "Suite: unstablE");
    std::fs::write(&inrelease, tampered).unwrap();
    refused(&farm, FARM_NOW + DAY, "no good signature");

    // An index that does not match what the Release lists.
    publish(&root, &next(archive_key()));
    std::fs::write(
        root.join("dists/unstable/main/source/Sources.xz"),
        xz(b"Package: evil\nVersion: 2-1\nArchitecture: any\n"),
    )
    .unwrap();
    refused(&farm, FARM_NOW + DAY, "does not match the Release");

    // Valid-Until in the past.
    publish(
        &root,
        &Snapshot {
            valid_until: Some(FARM_NOW + DAY - 1),
            ..next(archive_key())
        },
    );
    refused(&farm, FARM_NOW + DAY, "expired");

    // A replay of a Release older than the one merged.
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW - 2 * DAY,
            ..next(archive_key())
        },
    );
    refused(&farm, FARM_NOW + DAY, "older than the one merged before");

    // A truncated xz, signed as it is (a broken mirror run).
    publish(&root, &next(archive_key()));
    let sources = root.join("dists/unstable/main/source/Sources.xz");
    let data = std::fs::read(&sources).unwrap();
    let cut = &data[..data.len() / 2];
    let mut release = String::new();
    release.push_str(&format!(
        "Origin: Test\nSuite: unstable\nDate: {}\nValid-Until: {}\nSHA256:\n {} {} main/source/Sources.xz\n",
        rfc2822(FARM_NOW + DAY),
        rfc2822(FARM_NOW + 8 * DAY),
        hex::encode(Sha256::digest(cut)),
        cut.len()
    ));
    for arch in ["amd64", "arm64"] {
        let p = root.join(format!("dists/unstable/main/binary-{arch}/Packages.gz"));
        let d = std::fs::read(&p).unwrap();
        release.push_str(&format!(
            " {} {} main/binary-{arch}/Packages.gz\n",
            hex::encode(Sha256::digest(&d)),
            d.len()
        ));
    }
    std::fs::write(&sources, cut).unwrap();
    std::fs::write(
        &inrelease,
        clearsign(
            archive_key(),
            release.as_bytes(),
            SignSpec::at(FARM_NOW + DAY),
        ),
    )
    .unwrap();
    refused(&farm, FARM_NOW + DAY, "cannot decompress");

    // An expired archive key (it signed while it was valid).
    let old = make_key(KeySpec {
        uid: "Old Archive Key <ftpmaster@example.org>".into(),
        created: T0 - 30 * DAY,
        validity: Some(std::time::Duration::from_secs(10 * DAY as u64)),
        ..KeySpec::default()
    });
    let dir2 = tempfile::tempdir().unwrap();
    let root2 = dir2.path().join("mirror");
    let keyring = root2.join("old.asc");
    std::fs::create_dir_all(&root2).unwrap();
    std::fs::write(&keyring, old.armored_public()).unwrap();
    let farm2 = Farm::with(&format!(
        "[archive]\nroot = {root2:?}\narchitectures = [\"amd64\", \"arm64\"]\nrelease_keyrings = [{keyring:?}]\n"
    ));
    publish(
        &root2,
        &Snapshot {
            date: T0 - 25 * DAY,
            valid_until: None,
            ..v1(&old)
        },
    );
    refused(&farm2, FARM_NOW, "expired or revoked");
    assert!(all(&farm2).is_empty());
}

#[test]
fn the_cli_syncs_queues_and_takes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    let now = wall_now();
    publish(
        &root,
        &Snapshot {
            date: now - 3600,
            valid_until: Some(now + 7 * DAY),
            ..v1(archive_key())
        },
    );
    let text = cli_ok(&farm, &["sync"]);
    assert!(text.contains("unstable: 7 sources"), "{text}");
    let out = farm.cli(&["sync"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("unstable: unchanged"));

    let out = farm
        .cli(&["queue", "--suite", "unstable", "--arch", "amd64", "--json"])
        .output()
        .unwrap();
    let q: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q[0]["source"], "base");
    assert_eq!(q[0]["why"], "new package, priority required, section admin");

    // Two builders race for the same build: exactly one gets it.
    let take = |who: &str| {
        take_cmd(&farm, who, "game")
            .arg("--json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (take("buildd-a"), take("buildd-b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(
        [a.status.success(), b.status.success()]
            .iter()
            .filter(|s| **s)
            .count(),
        1,
        "exactly one builder takes game"
    );
    let r = farm.record("game", "unstable", "amd64");
    assert_eq!(r.state, State::Building);
    let out = farm
        .cli(&["info", "game", "--arch", "amd64"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Building"));
}

/// The CLI's `take` of `source` on unstable/amd64 by `builder`.
fn take_cmd(farm: &Farm, builder: &str, source: &str) -> std::process::Command {
    let mut c = farm.cli(&["take", "--suite", "unstable", "--arch", "amd64"]);
    c.args(["--builder", builder, source]);
    c
}

/// `take` of `source` on unstable/amd64 through the CLI: its output, and
/// whether it succeeded.
fn cli_take(farm: &Farm, source: &str) -> (bool, String) {
    let out = take_cmd(farm, "buildd-a", source).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The attack: in an open farm that follows an archive, a stranger mails
/// a log of a source no mirror has ("ghost"). It must not be handed to a
/// builder — not before the next sync, not after it — and a Failed one
/// keeps why; only when the archive's Sources list the source does the
/// build become takeable.
#[test]
fn a_log_of_a_source_the_archive_lacks_is_never_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    // A cut log (given back): Needs-Build, known from the mail only.
    farm.log("given-back", "ghost", "6.6-6", "amd64", "unstable");
    // And one an admin failed.
    farm.log("attempted", "phantom", "1-1", "amd64", "unstable");
    set_state(&farm, "phantom", "amd64", State::Failed, None);
    let ghost = farm.record("ghost", "unstable", "amd64");
    assert_eq!(ghost.state, State::NeedsBuild);
    assert!(ghost.source.is_none());
    assert_eq!(state(&farm, "phantom", "amd64"), Some(State::Failed));
    // Placed first in the queue (as by an admin's `give-back 10`): the top
    // of the queue passes over it all the same.
    update(&farm, "ghost", "amd64", |r| r.priority = Some(10));

    // Between the mail and the next sync: not listed, not handed out.
    assert_eq!(queue_names(&farm, "amd64"), ["base", "lib", "game"]);
    let listed = cli_ok(&farm, &["queue", "--suite", "unstable", "--arch", "amd64"]);
    assert!(!listed.contains("ghost"), "{listed}");
    let (ok, text) = cli_take(&farm, "ghost");
    assert!(!ok, "{text}");
    assert!(
        text.contains("known from mail only") && text.contains("run `buildmail sync`"),
        "{text}"
    );
    assert!(!text.contains("sbuild"), "{text}");
    assert_eq!(farm.state("ghost"), State::NeedsBuild);
    // The top of the queue, taken until it is empty, never is ghost.
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let mut taken = Vec::new();
    let empty = loop {
        match take(&*store, &farm, "amd64", "buildd-a", None, FARM_NOW) {
            Ok(r) => taken.push(r.key.source),
            Err(e) => break e,
        }
    };
    assert_eq!(taken, ["base", "lib", "game"]);
    assert!(matches!(empty, sync::TakeError::Empty { .. }), "{empty}");
    drop(store);

    // A new signed Release still without ghost: the sync takes it out of
    // the queue as a source the archive does not have.
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW,
            ..v1(archive_key())
        },
    );
    let r = sync_at(&farm, FARM_NOW + 60).unwrap();
    assert!(!r.unchanged);
    let ghost = farm.record("ghost", "unstable", "amd64");
    assert_eq!(ghost.state, State::NeedsBuild);
    assert!(ghost.source.as_ref().is_some_and(|s| s.removed));
    assert!(!ghost.in_queue());
    let h = farm.history("ghost", "amd64");
    let last = h.last().unwrap();
    assert_eq!(last.event, "sync:removed");
    assert_eq!(
        last.note.as_deref(),
        Some("the archive does not have this source; the build (Needs-Build) leaves the queue")
    );
    // A Failed one goes Failed-Removed, keeping why.
    assert_eq!(state(&farm, "phantom", "amd64"), Some(State::FailedRemoved));
    let h = farm.history("phantom", "amd64");
    assert_eq!(
        h.last().unwrap().note.as_deref(),
        Some("the archive does not have this source; the failure and wait information is kept")
    );
    let listed = cli_ok(&farm, &["queue", "--suite", "unstable", "--arch", "amd64"]);
    assert!(!listed.contains("ghost"), "{listed}");
    let (ok, text) = cli_take(&farm, "ghost");
    assert!(!ok && text.contains("not in the queue"), "{text}");
    // The same Release again changes nothing.
    assert!(sync_at(&farm, FARM_NOW + 120).unwrap().unchanged);

    // The archive gets ghost 6.6-6: back, and takeable.
    let sources = format!(
        "{SOURCES_V1}\nPackage: ghost\nVersion: 6.6-6\nArchitecture: any\nSection: misc\nPriority: optional\n"
    );
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW + DAY,
            sources: &sources,
            ..v1(archive_key())
        },
    );
    sync_at(&farm, FARM_NOW + DAY).unwrap();
    let ghost = farm.record("ghost", "unstable", "amd64");
    assert_eq!(ghost.state, State::NeedsBuild);
    assert!(ghost.source.as_ref().is_some_and(|s| !s.removed));
    assert_eq!(
        farm.history("ghost", "amd64")
            .last()
            .unwrap()
            .note
            .as_deref(),
        Some("the source is back in the archive")
    );
    assert_eq!(queue_names(&farm, "amd64"), ["ghost"]);
    let (ok, text) = cli_take(&farm, "ghost");
    assert!(ok, "{text}");
    assert!(
        text.contains("sbuild --dist=unstable --arch=amd64 ghost_6.6-6"),
        "{text}"
    );
    assert_eq!(farm.state("ghost"), State::Building);
}

/// A farm fed by mail only (no `[archive] root`) hands out a build known
/// from a log mail as it always did.
#[test]
fn without_an_archive_a_build_known_from_mail_is_handed_out() {
    let farm = Farm::new();
    farm.log("given-back", "ghost", "6.6-6", "amd64", "unstable");
    farm.log("given-back", "other", "1-1", "amd64", "unstable");
    assert_eq!(queue_names(&farm, "amd64"), ["ghost", "other"]);
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let top = take(&*store, &farm, "amd64", "buildd-a", None, FARM_NOW).unwrap();
    assert_eq!(top.key.source, "ghost");
    drop(store);
    let (ok, text) = cli_take(&farm, "other");
    assert!(ok, "{text}");
    assert!(
        text.contains("sbuild --dist=unstable --arch=amd64 other_1-1"),
        "{text}"
    );
}

#[test]
fn packages_arch_specific_keeps_a_source_off_an_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let pas = dir.path().join("Packages-arch-specific");
    std::fs::write(
        &pas,
        "# buildd list\n%game: !arm64 # needs a GPU\n%base: amd64\n",
    )
    .unwrap();
    let farm = farm_with(&root, &format!("packages_arch_specific = {pas:?}\n"));
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    assert_eq!(state(&farm, "game", "amd64"), Some(State::NeedsBuild));
    assert_eq!(state(&farm, "game", "arm64"), Some(State::AutoNotForUs));
    assert_eq!(state(&farm, "base", "arm64"), Some(State::AutoNotForUs));
    let h = farm.history("game", "arm64");
    assert_eq!(
        h[0].note.as_deref(),
        Some("Packages-arch-specific excludes game from arm64")
    );
    // The list changes (the archive does not): merged, and game is built
    // on arm64 again.
    std::fs::write(&pas, "%base: amd64\n").unwrap();
    let r = sync_at(&farm, FARM_NOW + 60).unwrap();
    assert!(!r.unchanged);
    assert_eq!(state(&farm, "game", "arm64"), Some(State::NeedsBuild));
    assert_eq!(
        farm.history("game", "arm64").last().unwrap().event,
        "sync:for-arch"
    );
    // A broken list refuses the sync.
    std::fs::write(&pas, "%base amd64\n").unwrap();
    refused(&farm, FARM_NOW + 120, "Packages-arch-specific line 1");
}

#[test]
fn a_binnmu_is_scheduled_taken_logged_and_installed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let done = key("done", "unstable", "amd64");
    // Refused: not Installed, or another version.
    let e = sync::binnmu(
        &*store,
        &key("base", "unstable", "amd64"),
        "1-1",
        "x",
        FARM_NOW,
    )
    .unwrap_err();
    assert!(e.contains("the build is Needs-Build"), "{e}");
    let e = sync::binnmu(&*store, &done, "1-0", "x", FARM_NOW).unwrap_err();
    assert!(e.contains("not 1-0"), "{e}");
    // The archive has +b1 binaries of done 1-1 already: this is +b2.
    let r = sync::binnmu(
        &*store,
        &done,
        "1-1",
        "Rebuild against libfoo 2.1",
        FARM_NOW,
    )
    .unwrap();
    assert_eq!((r.version.as_str(), r.state), ("1-1+b2", State::NeedsBuild));
    let t = take(&*store, &farm, "amd64", "buildd-a", Some("done"), FARM_NOW).unwrap();
    assert_eq!(t.binnmu.as_ref().unwrap().number, 2);
    assert_eq!(t.binnmu.unwrap().message, "Rebuild against libfoo 2.1");
    drop(store);
    // The archive (still without +b2) does not undo it.
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW + 60,
            ..v1(archive_key())
        },
    );
    sync_at(&farm, FARM_NOW + 120).unwrap();
    assert_eq!(state(&farm, "done", "amd64"), Some(State::Building));
    // The binNMU's log is matched to it.
    farm.log("successful", "done", "1-1+b2", "amd64", "unstable");
    let r = farm.record("done", "unstable", "amd64");
    assert_eq!((r.version.as_str(), r.state), ("1-1+b2", State::Built));
    // Its binaries reach the archive: Installed.
    let amd64 = format!(
        "{PACKAGES_AMD64_V1}\nPackage: done-bin\nVersion: 1-1+b2\nArchitecture: amd64\nSource: done (1-1)\n"
    );
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW + 180,
            valid_until: Some(FARM_NOW + 7 * DAY),
            sources: SOURCES_V1,
            packages: &[("amd64", &amd64), ("arm64", PACKAGES_ARM64_V1)],
            signer: archive_key(),
        },
    );
    sync_at(&farm, FARM_NOW + 240).unwrap();
    let r = farm.record("done", "unstable", "amd64");
    assert_eq!((r.version.as_str(), r.state), ("1-1+b2", State::Installed));
    // The next one is +b3.
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let r = sync::binnmu(&*store, &done, "1-1", "Again", FARM_NOW + 300).unwrap();
    assert_eq!(r.version, "1-1+b3");
}

#[test]
fn a_new_version_of_a_failed_package_waits_for_should_i_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    for src in ["lib", "game"] {
        update(&farm, src, "arm64", |r| {
            r.state = State::Failed;
            r.failed_reason = Some(format!("{src}: test suite segfaults on arm64"));
        });
    }
    let sources = SOURCES_V1
        .replace("Package: lib\nVersion: 1-1", "Package: lib\nVersion: 1-2")
        .replace("Package: game\nVersion: 1-1", "Package: game\nVersion: 1-2");
    let snapshot = |date| Snapshot {
        date,
        valid_until: Some(FARM_NOW + 7 * DAY),
        sources: &sources,
        packages: &[("amd64", PACKAGES_AMD64_V1), ("arm64", PACKAGES_ARM64_V1)],
        signer: archive_key(),
    };
    publish(&root, &snapshot(FARM_NOW));
    sync_at(&farm, FARM_NOW + 60).unwrap();
    let lib = farm.record("lib", "unstable", "arm64");
    assert_eq!(
        (lib.state, lib.version.as_str()),
        (State::NeedsBuild, "1-2")
    );
    // Not handed out: not in the queue, `take` refuses it by name.
    let q = queue_names(&farm, "arm64");
    assert!(
        !q.contains(&"lib".to_string()) && !q.contains(&"game".to_string()),
        "{q:?}"
    );
    // The amd64 build of lib never failed: it is built without asking.
    assert!(queue_names(&farm, "amd64").contains(&"lib".to_string()));
    // One question per build, to the admins, with the old reason and the
    // exact answers.
    farm.clock.advance(60);
    farm.work();
    let mails = farm.outbox();
    let questions: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("Subject: Should I build"))
        .collect();
    assert_eq!(questions.len(), 2, "{mails:#?}");
    let q = questions
        .iter()
        .find(|m| m.contains("Should I build lib_1-2 (dist=unstable)?"))
        .unwrap();
    assert!(q.contains("lib: test suite segfaults on arm64"), "{q}");
    assert!(q.contains("build lib_1-2 dist=unstable arch=arm64"), "{q}");
    // A later sync does not ask again.
    publish(&root, &snapshot(FARM_NOW + 3600));
    sync_at(&farm, FARM_NOW + 3660).unwrap();
    farm.clock.advance(3600);
    farm.work();
    assert_eq!(
        farm.outbox()
            .iter()
            .filter(|m| m.contains("Subject: Should I build"))
            .count(),
        2
    );

    // An unsigned "build" from a stranger changes nothing.
    let subject = "Re: Should I build lib_1-2 (dist=unstable)?";
    farm.deliver(
        &crate::support::TextMail::new(
            "mallory@attacker.example",
            "buildd@example.org",
            subject,
            "build\n",
        )
        .build(),
    );
    assert!(!queue_names(&farm, "arm64").contains(&"lib".to_string()));
    // The admin's signed answers: build → takeable; fail → Failed with the
    // old reason.
    let answer = |subject: &str, word: &str| {
        reply(
            subject,
            &clearsign(
                shared_ed25519(),
                bind_arch(subject, Some("arm64"), word).as_bytes(),
                fresh(),
            ),
            None,
        )
    };
    let out = farm.deliver(&answer(subject, "build\n"));
    assert!(
        matches!(out, buildmail::ingest::Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert!(queue_names(&farm, "arm64").contains(&"lib".to_string()));
    farm.deliver(&answer(
        "Re: Should I build game_1-2 (dist=unstable)?",
        "fail\n",
    ));
    let game = farm.record("game", "unstable", "arm64");
    assert_eq!(game.state, State::Failed);
    assert_eq!(
        game.failed_reason.as_deref(),
        Some("game: test suite segfaults on arm64")
    );
}

#[test]
fn a_builder_that_did_not_take_a_build_cannot_report_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm_with(
        &root,
        "\n[[builders]]\nname = \"buildd-a\"\nsenders = [\"a@buildd.example.org\"]\narches = [\"amd64\"]\n\n[[builders]]\nname = \"buildd-b\"\nsenders = [\"b@buildd.example.org\"]\narches = [\"amd64\"]\n",
    );
    publish(&root, &v1(archive_key()));
    sync_at(&farm, FARM_NOW).unwrap();
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    take(&*store, &farm, "amd64", "buildd-a", Some("base"), FARM_NOW).unwrap();
    drop(store);
    let log_from = |from: &str, status: &str| {
        let spec = crate::support::logs::LogSpec::new("base", "1-1", "amd64", "unstable", status);
        let log = crate::support::logs::sbuild_log(&spec);
        let subject = crate::support::sbuild_subject(status, "base", "1-1", "amd64", "unstable");
        let mut m = crate::support::LogMail::new(
            &subject,
            &log,
            crate::support::LogForm::Plain(crate::support::Encoding::EightBit),
        );
        m.from = from;
        m.build()
    };
    // buildd-b, a configured builder for amd64, reports a build buildd-a
    // took: recorded, the build stays Building.
    farm.deliver(&log_from("b@buildd.example.org", "successful"));
    let r = farm.record("base", "unstable", "amd64");
    assert_eq!(r.state, State::Building);
    let last = farm.history("base", "amd64").pop().unwrap();
    assert!(
        last.note
            .as_deref()
            .unwrap()
            .contains("buildd-a took this build; the log comes from buildd-b"),
        "{last:?}"
    );
    // The builder that took it reports it.
    farm.deliver(&log_from("a@buildd.example.org", "successful"));
    assert_eq!(farm.record("base", "unstable", "amd64").state, State::Built);
}

#[test]
fn with_the_archive_followed_accepted_is_a_hint_and_installed_comes_from_the_indices() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    // The archive's answers are trusted by their From (the weak opt-in):
    // even a trusted ACCEPTED is only a hint when the indices are followed.
    let farm = farm_with(
        &root,
        "senders = [\"dak@ftp-master.example.org\"]\ntrust_unsigned_senders = true\n",
    );
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    // An ACCEPTED mail does not make it Installed.
    farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes ACCEPTED into unstable",
        "Accepted:\n hello_1.0-1_amd64.deb\n",
    ));
    assert_eq!(farm.state("hello"), State::Uploaded);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert!(last
        .note
        .unwrap()
        .contains("Installed when sync finds its binaries"));
    // The signed indices do.
    let sources = "Package: hello\nVersion: 1.0-1\nArchitecture: any\n";
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW,
            valid_until: None,
            sources,
            packages: &[
                (
                    "amd64",
                    "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\n",
                ),
                ("arm64", ""),
            ],
            signer: archive_key(),
        },
    );
    sync_at(&farm, FARM_NOW + 60).unwrap();
    assert_eq!(farm.state("hello"), State::Installed);
}

#[test]
fn sync_reads_an_archive_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    std::fs::create_dir_all(&root).unwrap();
    let server = crate::support::http::FileServer::start(root.clone());
    let keyring = dir.path().join("archive-key.asc");
    std::fs::write(&keyring, archive_key().armored_public()).unwrap();
    std::fs::write(root.join("Packages-arch-specific"), "%game: !arm64\n").unwrap();
    let farm = Farm::with(&format!(
        "[archive]\nroot = \"{0}/\"\narchitectures = [\"amd64\", \"arm64\"]\nrelease_keyrings = [{keyring:?}]\npackages_arch_specific = \"{0}/Packages-arch-specific\"\n",
        server.url
    ));
    // Nothing published yet: a clear error naming the URL.
    let e = sync_at(&farm, FARM_NOW).unwrap_err().to_string();
    assert!(
        e.contains(&format!("{}/dists/unstable/Release", server.url)) && e.contains("not found"),
        "{e}"
    );
    publish(&root, &v1(archive_key()));
    let r = sync_at(&farm, FARM_NOW).unwrap();
    assert_eq!(r.sources, 7);
    assert_eq!(state(&farm, "base", "amd64"), Some(State::NeedsBuild));
    assert_eq!(state(&farm, "data", "amd64"), Some(State::Installed));
    assert_eq!(
        state(&farm, "game", "arm64"),
        Some(State::AutoNotForUs),
        "P-a-s over HTTP"
    );
    assert!(server.requests.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    // Tampered in transit (or on the server): refused.
    publish(
        &root,
        &Snapshot {
            date: FARM_NOW + 60,
            ..v1(archive_key())
        },
    );
    std::fs::write(
        root.join("dists/unstable/main/binary-arm64/Packages.gz"),
        gz(b"Package: evil\nVersion: 1\nArchitecture: arm64\n"),
    )
    .unwrap();
    refused(&farm, FARM_NOW + 120, "does not match the Release");
}

/// dose-builddebcheck's path, installing Debian's package when running
/// as root without it; `None` (and the test skips, saying so) when it
/// cannot be had outside CI.
fn dose_builddebcheck() -> Option<std::path::PathBuf> {
    let find = || {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("dose-builddebcheck"))
                .find(|f| f.is_file())
        })
    };
    // `.ci/run` installs it (apt-get install dose-builddebcheck).
    let found = find();
    if found.is_none() {
        crate::support::skip(
            "dose-builddebcheck is not installed (apt-get install dose-builddebcheck)",
        );
    }
    found
}

#[test]
fn dose_builddebcheck_follows_the_dependency_tree() {
    let Some(dose) = dose_builddebcheck() else {
        return;
    };
    let sources =
        "Package: hello\nVersion: 1.0-1\nArchitecture: any\nBuild-Depends: libfoo-dev (>= 2.0)\n\n\
Package: deep\nVersion: 1-1\nArchitecture: any\nBuild-Depends: libbar-dev\n\n\
Package: fine\nVersion: 1-1\nArchitecture: any\nBuild-Depends: libfoo-dev\n";
    let packages =
        "Package: libfoo-dev\nVersion: 1.9-1\nArchitecture: amd64\nDepends: libfoo1 (= 1.9-1)\n\n\
Package: libfoo1\nVersion: 1.9-1\nArchitecture: amd64\n\n\
Package: libbar-dev\nVersion: 2.0-1\nArchitecture: amd64\nDepends: libmissing1\n\n\
Package: build-essential\nVersion: 12.10\nArchitecture: amd64\n";
    let snapshot = Snapshot {
        date: FARM_NOW,
        valid_until: None,
        sources,
        packages: &[("amd64", packages), ("arm64", "")],
        signer: archive_key(),
    };
    let states = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mirror");
        let farm = farm_with(&root, extra);
        publish(&root, &snapshot);
        sync_at(&farm, FARM_NOW + 60).unwrap();
        ["hello", "deep", "fine"].map(|s| {
            let r = farm.record(s, "unstable", "amd64");
            (r.state, r.source.unwrap().uninstallable)
        })
    };
    // The built-in check: every relation has a candidate, so deep looks
    // installable.
    let builtin = states("");
    assert_eq!(builtin[0].0, State::BdUninstallable);
    assert_eq!(builtin[1], (State::NeedsBuild, None));
    // dose-builddebcheck follows libbar-dev to its missing dependency.
    let with_dose = states(&format!("dose_builddebcheck = {dose:?}\n"));
    assert_eq!(
        with_dose[0],
        (
            State::BdUninstallable,
            Some("libfoo-dev (>= 2.0) is not available on amd64 (dose-builddebcheck)".into())
        )
    );
    assert_eq!(
        with_dose[1],
        (
            State::BdUninstallable,
            Some(
                "libmissing1 (needed by libbar-dev) is not available on amd64 (dose-builddebcheck)"
                    .into()
            )
        )
    );
    assert_eq!(with_dose[2], (State::NeedsBuild, None));
}

#[test]
fn a_release_with_a_detached_release_gpg_is_verified_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    publish(&root, &v1(archive_key()));
    // An archive without InRelease: Release and Release.gpg.
    let dist = root.join("dists/unstable");
    let inrelease = std::fs::read_to_string(dist.join("InRelease")).unwrap();
    std::fs::remove_file(dist.join("InRelease")).unwrap();
    let start = inrelease.find("\n\n").unwrap() + 2;
    let end = inrelease.find("\n-----BEGIN PGP SIGNATURE-----").unwrap();
    let release = format!("{}\n", &inrelease[start..end]);
    std::fs::write(dist.join("Release"), &release).unwrap();
    // Signed by a stranger: refused.
    let stranger = make_key(KeySpec {
        uid: "Mallory <mallory@attacker.example>".into(),
        ..KeySpec::default()
    });
    std::fs::write(
        dist.join("Release.gpg"),
        detach_sign(
            &stranger,
            release.as_bytes(),
            SignSpec::at(FARM_NOW - DAY),
            true,
        ),
    )
    .unwrap();
    refused(&farm, FARM_NOW, "no good signature");
    std::fs::write(
        dist.join("Release.gpg"),
        detach_sign(
            archive_key(),
            release.as_bytes(),
            SignSpec::at(FARM_NOW - DAY),
            true,
        ),
    )
    .unwrap();
    let r = sync_at(&farm, FARM_NOW).unwrap();
    assert_eq!(r.sources, 7);
    // A Release changed after signing: refused.
    std::fs::write(
        dist.join("Release"),
        release.replace("Codename: sid", "Codename: evil"),
    )
    .unwrap();
    refused(&farm, FARM_NOW + 60, "no good signature");
}

#[test]
fn the_queue_index_of_an_earlier_database_is_built_on_open() {
    let farm = Farm::new();
    if crate::support::sled_only(&farm, "a sled database of an earlier release") {
        return;
    }
    farm.log("given-back", "hello", "1.0-1", "amd64", "unstable");
    assert_eq!(queue_names(&farm, "amd64"), ["hello"]);
    // A database of the release before the index: no index, no marker.
    {
        let db = crate::support::open_raw_sled(&farm.cfg.database.path);
        db.open_tree("queue").unwrap().clear().unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("queue_indexed")
            .unwrap();
        db.flush().unwrap();
    }
    assert_eq!(queue_names(&farm, "amd64"), ["hello"], "rebuilt on open");
    // Kept by every commit afterwards: taken, it leaves the queue.
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    take(&*store, &farm, "amd64", "buildd-a", None, FARM_NOW).unwrap();
    drop(store);
    assert!(queue_names(&farm, "amd64").is_empty());
}

#[test]
fn check_config_shows_and_checks_the_archive_settings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let farm = farm(&root);
    let text = cli_ok(&farm, &["check-config"]);
    assert!(text.contains("archive.root: "), "{text}");
    assert!(
        text.contains("architectures amd64, arm64; Architecture: all on amd64"),
        "{text}"
    );
    assert!(
        text.contains("archive.release_keyrings: 1 certificate(s)"),
        "{text}"
    );
    assert!(
        text.contains("installability: the built-in direct check"),
        "{text}"
    );
    // arch_all that no architecture is: refused.
    let bad = farm_with(&root, "")
        .toml
        .replace("arch_all = \"amd64\"", "arch_all = \"riscv64\"");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_buildmail"))
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("archive.arch_all riscv64"));
}

#[test]
fn serve_syncs_the_archive_on_its_schedule() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mirror");
    let socket = dir.path().join("lmtp.sock");
    let farm = farm_with(
        &root,
        &format!(
            "\n[serve]\nlmtp = [\"unix:{}\"]\nsync_every = \"15m\"\n",
            socket.display()
        ),
    );
    let now = wall_now();
    publish(
        &root,
        &Snapshot {
            date: now - 3600,
            valid_until: Some(now + 7 * DAY),
            ..v1(archive_key())
        },
    );
    let mut child = farm
        .cli(&["serve"])
        .env("BUILDMAIL_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The daemon syncs when it starts; its log says so.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    for line in stderr.by_ref() {
        let line = line.unwrap();
        let done = line.contains("serve: sync unstable:");
        said.push(line);
        if done {
            break;
        }
    }
    // The rest of its log is read on (the daemon's stderr stays open).
    let rest = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>());
    assert!(
        said.last()
            .unwrap()
            .contains("7 sources; 11 builds created"),
        "{said:#?}"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let rest = rest.join().unwrap();
    assert!(status.success(), "{status:?}: {rest:#?}");
    assert_eq!(state(&farm, "base", "amd64"), Some(State::NeedsBuild));
}
