//! `buildmail migrate`: makes the PostgreSQL database's schema the one
//! this buildmail writes (`migrations/`, embedded), or says it is; with
//! `--from-sled DIR`, then copies a sled database into it and counts
//! every table on both sides.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::store::archive::LogArchive;
use crate::store::blob::BlobStore;
use crate::store::blobs::Blobs;
use crate::store::from_sled::{copy_blobs, TableCount};
use crate::store::pg::PgStore;
use crate::store::segments::Segments;
use crate::store::sled::export::SledExport;

/// Options of `migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Then copy the sled database in DIR (an earlier `[database] path`;
    /// stop every buildmail using it first) into the configured
    /// PostgreSQL database: records, history, dedup and replay records,
    /// quarantine, outbox, jobs, notices, the log index, and the logs.
    /// Idempotent and resumable: run it again after an interruption.
    /// Exits non-zero when a table's counts differ afterwards.
    #[arg(long, value_name = "DIR")]
    pub from_sled: Option<PathBuf>,
    /// With --from-sled: the sled farm's log archive, copied into the
    /// PostgreSQL database (its `[database] log_archive`; default: the
    /// configured one).
    #[arg(long, value_name = "DIR", requires = "from_sled")]
    pub logs: Option<PathBuf>,
    /// With --from-sled: the sled farm's store of large mails, copied into
    /// the PostgreSQL database (its `[database] mail_blobs`; default: the
    /// configured one).
    #[arg(long, value_name = "DIR", requires = "from_sled")]
    pub mails: Option<PathBuf>,
}

/// Applies the migrations the configured PostgreSQL database lacks.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let Some(url) = &config.database.url else {
        anyhow::bail!(
            "database.url is not set: the sled database at {} needs no migration (it is made when first used){}",
            config.database.path.display(),
            if args.from_sled.is_some() {
                "; to copy a sled database into PostgreSQL, set [database] url to the PostgreSQL database first"
            } else {
                ""
            }
        );
    };
    // The sled database is taken (and checked) before anything is written.
    let export = args
        .from_sled
        .as_deref()
        .map(SledExport::open)
        .transpose()?;
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
    let Some(export) = export else {
        return Ok(ExitCode::SUCCESS);
    };
    outln!(
        "copying the sled database {} into {db}",
        export.path().display()
    );
    let blobs = Blobs::open(&config.database);
    let (copied, queued, maintainers) =
        store.copy_from_sled(&export, &*blobs.mails, &mut |table, n| {
            outln!("  {table}: {n}");
        })?;
    if copied.files_kept > 0 {
        outln!(
            "  mails an earlier release kept in files: {} moved into the mail store",
            copied.files_kept
        );
    }
    for f in &copied.files_missing {
        eprintln!(
            "buildmail: warning: {} is named by a record but is not there; the record still names it",
            f.display()
        );
    }
    let mut counts = store.verify_copy(&export, queued, maintainers)?;
    // The blobs: the sled farm's log archive and mail store, into the
    // PostgreSQL database's.
    let logs_dir = args
        .logs
        .clone()
        .unwrap_or_else(|| config.database.log_archive.clone());
    let mails_dir = args
        .mails
        .clone()
        .unwrap_or_else(|| config.database.mail_blobs.clone());
    for (what, dir, from, to) in [
        (
            "logs",
            &logs_dir,
            Arc::new(LogArchive::new(&logs_dir)) as Arc<dyn BlobStore>,
            &blobs.logs,
        ),
        (
            "mails",
            &mails_dir,
            Segments::shared(&mails_dir) as Arc<dyn BlobStore>,
            &blobs.mails,
        ),
    ] {
        let (n, there, put) = copy_blobs(&*from, dir, &**to)?;
        outln!(
            "  blobs ({what}): {n} in {}, {put} copied now",
            dir.display()
        );
        counts.push(TableCount {
            table: format!("blobs ({what})"),
            sled: n,
            postgres: there,
        });
    }
    let width = counts.iter().map(|c| c.table.len()).max().unwrap_or(5);
    outln!("{:width$}  {:>10}  {:>10}", "table", "sled", "postgresql");
    let mut bad = Vec::new();
    for c in &counts {
        let mark = if c.matches() { "" } else { "  MISMATCH" };
        outln!(
            "{:width$}  {:>10}  {:>10}{mark}",
            c.table,
            c.sled,
            c.postgres
        );
        if !c.matches() {
            bad.push(c.table.as_str());
        }
    }
    if bad.is_empty() {
        outln!("every table holds as many rows as in sled: point the configuration at {db} (it is already) and start buildmail");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "buildmail: the counts differ in {}: the PostgreSQL database holds rows the sled database does not (or lacks some); copy into a database that holds nothing else",
            bad.join(", ")
        );
        Ok(ExitCode::from(1))
    }
}
