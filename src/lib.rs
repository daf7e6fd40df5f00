//! buildmail: the mail brain of a Debian-style build farm.
//!
//! Reads sbuild build-log mails and admin replies, keeps every build's
//! wanna-build state, performs the uploads signed replies ask for, and
//! tells people what they need to know. `ARCHITECTURE.md` is the map; the
//! modules are layers, each using only those listed before it:
//!
//! 1. [`debian`], [`time`], [`fsutil`]: vocabulary and leaf utilities;
//! 2. [`model`], [`config`]: records, states, the transition table; settings;
//! 3. [`inbound`]: reading mail (pure parsing and checking);
//! 4. [`decide`]: pure decisions (facts + record + now + rules → change);
//! 5. [`store`]: the storage interface and its implementations;
//! 6. [`effects`]: uploads, mail delivery, composing mails, the worker;
//! 7. [`ingest`]: one mail in, one commit out; the import pipeline;
//! 8. [`sync`]: the archive side (read, merge, take, binNMU);
//! 9. [`query`]: the views commands and pages show;
//! 10. [`hub`]: the doors every command goes through (submit, apply,
//!     query), the daemon's core and its scheduled work;
//! 11. [`serve`]: the daemon's listeners (LMTP, HTTP) and its client;
//! 12. [`cli`]: the command line.

/// Defines `fn $name() -> &'static regex::Regex`, compiled on first use.
/// The patterns are constants: a module that defines regexes has a test
/// calling every one (`every_regex_compiles`), so a pattern that does not
/// compile fails the test suite instead of quietly disabling a feature.
macro_rules! static_regex {
    ($(#[$m:meta])* $vis:vis fn $name:ident() = $pat:expr;) => {
        $(#[$m])*
        $vis fn $name() -> &'static regex::Regex {
            static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
                #[allow(clippy::expect_used)]
                regex::Regex::new(&$pat).expect(concat!(
                    "the pattern of ",
                    stringify!($name),
                    " compiles (every_regex_compiles checks it)"
                ))
            });
            &RE
        }
    };
}

pub mod debian;
pub mod fsutil;
pub mod time;

pub mod config;
pub mod model;

pub mod inbound;

pub mod decide;

pub mod store;

pub mod effects;

pub mod ingest;

pub mod sync;

pub mod query;

pub mod hub;

pub mod serve;

pub mod cli;
