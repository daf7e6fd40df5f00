//! `buildmail migrate`: makes the PostgreSQL database's schema the one
//! this buildmail writes (`migrations/`, embedded), or says it is.

use std::process::ExitCode;

use crate::config::Config;
use crate::store::pg::PgStore;

/// Options of `migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Applies the migrations the configured PostgreSQL database lacks.
pub fn run(config: &Config, _args: Args) -> anyhow::Result<ExitCode> {
    let Some(url) = &config.database.url else {
        anyhow::bail!(
            "database.url is not set: the sled database at {} needs no migration (it is made when first used)",
            config.database.path.display()
        );
    };
    let store = PgStore::connect(url, &config.database)?;
    let m = store.migrate()?;
    let db = config.database.describe();
    if m.applied.is_empty() {
        outln!("{db}: schema version {}, up to date", m.to);
    } else {
        outln!(
            "{db}: schema version {} → {} ({})",
            m.from,
            m.to,
            m.applied.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
