use super::*;

#[test]
fn defaults_need_no_file() {
    let c = Config::from_toml("", None).unwrap();
    assert!(c.data_dir.ends_with("buildmail-data"));
    assert_eq!(c.database.path, c.data_dir.join("db"));
    assert_eq!(c.limits.max_message_size, 512 << 20);
    assert_eq!(c.limits.max_log_size, 2 << 30);
    assert_eq!(c.default_arch, "amd64");
    assert_eq!(c.database.lock_timeout, Duration::from_secs(30));
    assert_eq!(c.signatures.keyrings, vec![c.data_dir.join("admins.asc")]);
    assert_eq!(c.signatures.max_age, Duration::from_secs(7 * 86400));
    assert!(c.signatures.require_signed_commands);
    assert!(c.signatures.trusted_senders.is_empty());
}

#[test]
fn signatures_section() {
    let c = Config::from_toml(
        "[signatures]\nkeyrings = [\"k/a.asc\", \"/etc/b.gpg\"]\nmax_age = \"36h\"\nrequire_signed_commands = false\ntrusted_senders = [\"admin@example.org\"]",
        Some(Path::new("/srv/bm/buildmail.toml")),
    )
    .unwrap();
    assert_eq!(
        c.signatures.keyrings,
        vec![
            PathBuf::from("/srv/bm/k/a.asc"),
            PathBuf::from("/etc/b.gpg")
        ]
    );
    assert_eq!(c.signatures.max_age, Duration::from_secs(36 * 3600));
    assert!(!c.signatures.require_signed_commands);
    assert!(c.warnings().iter().any(|w| w.contains("admin@example.org")));
    let e = Config::from_toml("[signatures]\nmax_age = \"a week\"", None).unwrap_err();
    assert!(e.to_string().contains("signatures.max_age"), "{e}");
    let e = Config::from_toml("[signatures]\ntrusted_senders = [\"root\"]", None).unwrap_err();
    assert!(e.to_string().contains("signatures.trusted_senders"), "{e}");
}

#[test]
fn relative_paths_follow_the_file() {
    let c = Config::from_toml(
        "data_dir = \"d\"",
        Some(Path::new("/etc/bm/buildmail.toml")),
    )
    .unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/etc/bm/d"));
    assert_eq!(c.database.path, PathBuf::from("/etc/bm/d/db"));
}

#[test]
fn errors_name_the_key() {
    let e = Config::from_toml("[limits]\nmax_log_size = \"lots\"", None).unwrap_err();
    assert!(e.to_string().contains("limits.max_log_size"), "{e}");
    let e = Config::from_toml("default_arch = \"AMD 64\"", None).unwrap_err();
    assert!(e.to_string().contains("default_arch"), "{e}");
    let e = Config::from_toml("admin_adress = \"x@y\"", None).unwrap_err();
    assert!(e.to_string().contains("admin_adress"), "{e}");
    let e = Config::from_toml("[database]\nlock_timeout = 5", None).unwrap_err();
    assert!(e.to_string().contains("lock_timeout"), "{e}");
    let e = Config::from_toml("from_address = \"nobody\"", None).unwrap_err();
    assert!(e.to_string().contains("from_address"), "{e}");
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_size("512MiB"), Some(512 << 20));
    assert_eq!(parse_size("2 GiB"), Some(2 << 30));
    assert_eq!(parse_size("64k"), Some(64 << 10));
    assert_eq!(parse_size("12"), Some(12));
    assert_eq!(parse_size("12 parsecs"), None);
    assert_eq!(parse_size("99999999999999999999T"), None);
    assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("soon"), None);
    // Shown back as the file writes them, and read back to the same value.
    assert_eq!(format_size(512 << 20), "512MiB");
    assert_eq!(format_size(2 << 30), "2GiB");
    assert_eq!(format_size(64 << 10), "64KiB");
    assert_eq!(format_size(1000), "1000");
    assert_eq!(format_size(0), "0");
    assert_eq!(format_duration(Duration::from_secs(7 * 86400)), "7d");
    assert_eq!(format_duration(Duration::from_secs(30)), "30s");
    assert_eq!(format_duration(Duration::from_secs(600)), "10m");
    assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    assert_eq!(format_duration(Duration::from_secs(36 * 3600)), "36h");
    assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
    assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(format_duration(Duration::ZERO), "0s");
    for n in [0u64, 1, 1000, 1024, 1536, 512 << 20, 3 << 40, u64::MAX] {
        assert_eq!(parse_size(&format_size(n)), Some(n), "{n}");
    }
    for ms in [0u64, 1, 500, 1000, 60_000, 86_400_000, 90_061_000] {
        let d = Duration::from_millis(ms);
        assert_eq!(parse_duration(&format_duration(d)), Some(d), "{ms}");
    }
}

#[test]
fn own_message_ids_are_known_by_prefix_and_domain() {
    let cfg = Config::from_toml("from_address = \"buildd@example.org\"\n", None).unwrap();
    assert!(cfg.is_own_message_id("buildmail.failed-to-upload.1.2.0@example.org"));
    assert!(cfg.is_own_message_id("<buildmail.reply.7.9@EXAMPLE.org>"));
    assert!(!cfg.is_own_message_id("buildmail.reply.7.9@example.org.evil.test"));
    assert!(!cfg.is_own_message_id("someone.reply.7.9@example.org"));
    assert!(!cfg.is_own_message_id("buildmail.no-domain"));
}

#[test]
fn durations_read_as_written_and_back() {
    for (text, secs) in [
        ("30", 30),
        ("30s", 30),
        ("10m", 600),
        ("8h", 8 * 3600),
        ("7d", 7 * 86400),
        ("1h 30m", 5400),
        ("2w", 14 * 86400),
    ] {
        let d = parse_duration(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(d, std::time::Duration::from_secs(secs), "{text}");
        assert_eq!(parse_duration(&format_duration(d)), Some(d), "{text}");
    }
    assert_eq!(
        parse_duration("500ms"),
        Some(std::time::Duration::from_millis(500))
    );
    for bad in ["", "ten minutes", "-1s", "5 parsecs"] {
        assert!(parse_duration(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn a_database_url_selects_postgresql_and_its_password_is_never_shown() {
    let cfg = Config::from_toml("", None).unwrap();
    assert_eq!(cfg.database.url, None, "sled unless a url is set");
    let cfg = Config::from_toml(
        "[database]\nurl = \"postgresql://bm:s3cr%40t@db.example.org:5433/farm?sslmode=require\"\n",
        None,
    )
    .unwrap();
    assert_eq!(
        cfg.database.describe(),
        "postgresql://bm:***@db.example.org:5433/farm?sslmode=require"
    );
    for (url, shown) in [
        ("postgres://u:p@h/d", "postgres://u:***@h/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        (
            "postgresql://h/d?user=u&password=p&x=1",
            "postgresql://h/d?user=u&password=***&x=1",
        ),
        (
            "host=h user=u password=p dbname=d",
            "host=h user=u password=*** dbname=d",
        ),
        (
            "postgresql://u:p@h/d?mypassword=x",
            "postgresql://u:***@h/d?mypassword=x",
        ),
    ] {
        assert_eq!(redact_url(url), shown, "{url}");
    }
    // Not a PostgreSQL URL: refused, and the error shows no password.
    let e = Config::from_toml("[database]\nurl = \"mysql://u:hunter2@h/d\"\n", None)
        .expect_err("refused");
    let said = e.to_string();
    assert!(
        said.contains("database.url") && said.contains("u:***@h/d"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}

#[test]
fn database_connections() {
    let c = Config::from_toml("", None).unwrap();
    assert_eq!(c.database.connections, DEFAULT_CONNECTIONS);
    assert_eq!(DEFAULT_CONNECTIONS, 16);
    let c = Config::from_toml("[database]\nconnections = 40", None).unwrap();
    assert_eq!(c.database.connections, 40);
    let e = Config::from_toml("[database]\nconnections = 0", None).unwrap_err();
    assert!(e.to_string().contains("database.connections"), "{e}");
}
