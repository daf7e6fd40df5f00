//! What `packaging/` ships besides the binary: the example configuration
//! (installed as /usr/share/doc/buildmail/examples/buildmail.toml) loads,
//! and `check-config` accepts it.

use std::path::{Path, PathBuf};
use std::process::Command;

use buildmail::config::{Config, Transport};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/buildmail.toml")
}

/// Every value of `key=` in the packaged systemd unit `unit`
/// (`buildmail.socket`), as `packaging/test-deb` reads them.
pub(crate) fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/systemd")
        .join(unit);
    let text = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key}=");
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_example_configuration_loads_with_the_packaged_paths() {
    let path = example();
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::from_toml(&text, Some(&path)).unwrap();
    assert_eq!(config.data_dir, Path::new("/var/lib/buildmail"));
    assert_eq!(config.database.path, Path::new("/var/lib/buildmail/db"));
    assert_eq!(
        config.signatures.keyrings,
        [PathBuf::from("/etc/buildmail/admins.asc")]
    );
    assert_eq!(config.outbox.transport, Transport::Smtp);
    assert_eq!(
        config.builders.len(),
        1,
        "a closed farm: one example buildd"
    );
    assert!(!config.archive.senders.is_empty());
    // Nothing in it is relative to where the example happens to lie.
    for p in [
        &config.data_dir,
        &config.upload.build_dir,
        &config.upload.queue_dir,
        &config.outbox.dir,
    ] {
        assert!(p.starts_with("/var/lib/buildmail"), "{}", p.display());
    }
}

#[test]
fn check_config_accepts_the_example() {
    let out = Command::new(env!("CARGO_BIN_EXE_buildmail"))
        .arg("--config")
        .arg(example())
        .args(["check-config", "--json"])
        .env_remove("BUILDMAIL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let warnings = v["warnings"].to_string();
    if !Path::new("/etc/buildmail/admins.asc").exists() {
        assert!(
            warnings.contains("keyring /etc/buildmail/admins.asc does not exist"),
            "{warnings}"
        );
    }
    assert!(
        !warnings.contains("no [[builders]]"),
        "the farm is closed: {warnings}"
    );
    // Every placeholder the example ships is named, with its key, so that
    // none is left by mistake.
    for key in [
        "admin_address is buildd-admin@example.org",
        "from_address is buildd@example.org",
        "notify.buildd_admins has the example address buildd-admin@example.org",
        "archive.senders has the example address dak@ftp-master.example.org",
        "[[builders]] entry \\\"buildd-amd64\\\" has the example sender buildd@buildd-amd64.example.org",
    ] {
        assert!(warnings.contains(key), "no warning {key:?}: {warnings}");
    }
    // [serve] is shown, and it is the packaged socket unit's.
    let settings = v["settings"].as_array().unwrap();
    let lmtp = settings
        .iter()
        .find(|s| s["key"] == "serve.lmtp")
        .expect("check-config shows serve.lmtp");
    let listen = unit_values("buildmail.socket", "ListenStream");
    assert!(!listen.is_empty());
    assert!(
        lmtp["value"]
            .as_str()
            .unwrap()
            .starts_with(&format!("unix:{} ", listen[0])),
        "serve.lmtp {lmtp} is not the socket unit's {listen:?}"
    );
    // Sizes and durations as the file writes them.
    for (key, value) in [
        ("limits.max_message_size", "512MiB"),
        ("limits.max_log_size", "2GiB"),
        ("database.lock_timeout", "30s"),
        ("signatures.max_age", "7d"),
    ] {
        assert!(
            settings
                .iter()
                .any(|s| s["key"] == key && s["value"] == value),
            "{key} = {value}: {settings:?}"
        );
    }
    assert!(
        settings
            .iter()
            .any(|s| s["key"] == "outbox.transport"
                && s["value"].as_str().unwrap().starts_with("smtp;")),
        "{settings:?}"
    );
}

/// The packaged service reads the packaged configuration, from any
/// working directory: its ExecStart names the file (`packaging/test-deb`
/// runs it for real).
#[test]
fn the_service_unit_names_the_configuration_file() {
    let exec = unit_values("buildmail.service", "ExecStart");
    assert_eq!(
        exec,
        ["/usr/bin/buildmail --config /etc/buildmail/buildmail.toml serve"]
    );
    assert_eq!(unit_values("buildmail.service", "User"), ["buildmail"]);
}
