//! Values of the configuration: sizes (`64k`, `512MiB`), durations
//! (`500ms`, `30s`, `7d`), addresses; each error names its key. Sizes and
//! durations are shown back in the form the file takes
//! ([`format_size`], [`format_duration`]: `check-config`).

use crate::config::ConfigError;
use crate::config::SizeValue;
use std::time::Duration;

pub(super) fn check_address(key: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = value.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && !d.is_empty() && !value.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            message: format!("{value:?} is not a mail address like \"buildd@example.org\""),
        })
    }
}

/// A duration key: `default_secs` when absent.
pub(super) fn duration(
    key: &'static str,
    v: Option<String>,
    default_secs: u64,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(Duration::from_secs(default_secs)),
        Some(t) => parse_duration(&t).ok_or_else(|| ConfigError::Invalid {
            key,
            message: format!(
                "{t:?} is not a duration; write e.g. \"30s\", \"10m\", \"8h\", \"7d\""
            ),
        }),
    }
}

pub(super) fn size(
    key: &'static str,
    v: Option<SizeValue>,
    default: u64,
) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(SizeValue::Bytes(n)) => Ok(n),
        Some(SizeValue::Text(t)) => parse_size(&t).ok_or_else(|| ConfigError::Invalid {
            key,
            message: format!("{t:?} is not a size; write e.g. 536870912, \"512MiB\" or \"2GiB\""),
        }),
    }
}

/// Parses `"512MiB"`, `"2 GiB"`, `"64k"`, `"1000"` into bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Parses `"30s"`, `"10m"`, `"7d"`, `"2h"`, `"500ms"`, `"1h 30m"` into a
/// duration (humantime's units); a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).ok()
}

/// A size the way the configuration writes it: the largest binary unit
/// that divides it exactly (`536870912` → `"512MiB"`, `1000` → `"1000"`),
/// so that [`parse_size`] reads it back to the same number.
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes != 0 && bytes % (1u64 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A duration the way the configuration writes it: the largest unit that
/// divides it exactly (`604800s` → `"7d"`, `90s` → `"90s"`, `0.5s` →
/// `"500ms"`), so that [`parse_duration`] reads it back to the same value.
/// Weeks are written in days, as the example configuration does.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || (d.as_secs() == 0 && d.subsec_nanos() != 0) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % size == 0 {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}
