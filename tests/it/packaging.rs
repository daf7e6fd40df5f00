//! What `packaging/` ships besides the binary: the example configuration
//! (installed as /usr/share/doc/buildmail/examples/buildmail.toml) loads,
//! and `check-config` accepts it.

use std::path::{Path, PathBuf};
use std::process::Command;

use buildmail::config::{Config, Transport};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/buildmail.toml")
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
        !warnings.contains("builders"),
        "the farm is closed: {warnings}"
    );
}
