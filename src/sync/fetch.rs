//! Reading a suite: the Release verified as apt does, every index checked
//! against it, read as a stream of paragraphs; no store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::debian::release::{self, Release};
use crate::debian::version;
use crate::decide::sync::ArchView;

use super::dose;
use super::{Read, SuiteData, SyncError};
use crate::inbound::archive::{for_each_paragraph, BinaryEntry, Compression, SourceEntry};
use crate::inbound::signature::{verify_inrelease, verify_release_gpg, Keyring};
use crate::model::ReleaseSeen;

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn read(path: &Path) -> Result<Vec<u8>, SyncError> {
    std::fs::read(path).map_err(|source| SyncError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and verifies `suite` of the configured archive (see the module
/// documentation). `seen` is the Release merged last.
pub fn read_suite(
    config: &Config,
    suite: &str,
    seen: Option<&ReleaseSeen>,
    now: i64,
) -> Result<Read, SyncError> {
    let a = &config.archive;
    let root = a.root.as_ref().ok_or(SyncError::NoArchive)?;
    let dist = Dist::new(root, suite);
    let keyring =
        Keyring::load(&a.release_keyrings).map_err(|e| SyncError::Keyring(e.to_string()))?;
    let inrelease = dist.path("InRelease");
    let (path, signed, text) = if let Some(bytes) = dist.get("InRelease")? {
        let (text, _) =
            verify_inrelease(&bytes, &keyring, now).map_err(|source| SyncError::Signature {
                path: inrelease.clone(),
                source,
            })?;
        (inrelease, bytes, text)
    } else {
        let path = dist.path("Release");
        let missing = |name: &str| SyncError::Read {
            path: dist.path(name),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found (and no InRelease either)",
            ),
        };
        let bytes = dist.get("Release")?.ok_or_else(|| missing("Release"))?;
        let sig = dist
            .get("Release.gpg")?
            .ok_or_else(|| missing("Release.gpg"))?;
        verify_release_gpg(&bytes, &sig, &keyring, now).map_err(|source| SyncError::Signature {
            path: path.clone(),
            source,
        })?;
        (path, bytes.clone(), bytes)
    };
    // The Packages-arch-specific list counts as part of what was merged:
    // a change of it alone is merged too.
    let (pas, sha256) = match &a.packages_arch_specific {
        None => (crate::debian::pas::Pas::default(), hex_sha256(&signed)),
        Some(location) => {
            let path = PathBuf::from(location.to_string());
            let text = match location {
                crate::config::Location::Local(p) => read(p)?,
                crate::config::Location::Url(u) => {
                    http_get(&agent(), u, MAX_RELEASE)?.ok_or_else(|| SyncError::Read {
                        path: path.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
                    })?
                }
            };
            let pas = crate::debian::pas::Pas::parse(&String::from_utf8_lossy(&text))
                .map_err(|source| SyncError::Pas { path, source })?;
            (
                pas,
                format!("{}+pas:{}", hex_sha256(&signed), hex_sha256(&text)),
            )
        }
    };
    if seen.is_some_and(|s| s.sha256 == sha256) {
        return Ok(Read::Unchanged(suite.to_string()));
    }
    let release =
        release::parse(&String::from_utf8_lossy(&text)).map_err(|source| SyncError::Release {
            path: path.clone(),
            source,
        })?;
    if let Some(until) = release.valid_until.filter(|u| *u < now) {
        return Err(SyncError::Expired {
            path,
            until: crate::time::format_time(until),
        });
    }
    if let Some(s) = seen.filter(|s| s.date > release.date) {
        return Err(SyncError::Replay {
            path,
            got: crate::time::format_time(release.date),
            seen: crate::time::format_time(s.date),
        });
    }
    // dose-builddebcheck, when configured and installed, reads plain
    // copies of the indices.
    let mut dose = DoseFiles::new(a.dose_builddebcheck.as_deref())?;
    // Sources of every component.
    let mut sources: HashMap<String, SourceEntry> = HashMap::new();
    for c in &a.components {
        let (file, data) = index(&dist, &release, &format!("{c}/source/Sources"), true)?;
        let Some(data) = data else { continue };
        for_each_paragraph(&data, Compression::of(&file), &mut |p| {
            if let Some(e) = SourceEntry::from_paragraph(p) {
                match sources.get(&e.package) {
                    Some(old) if version::compare(&old.version, &e.version).is_ge() => {}
                    _ => {
                        sources.insert(e.package.clone(), e);
                    }
                }
            }
            Ok(())
        })
        .map_err(|source| SyncError::Index {
            path: dist.path(&file),
            source,
        })?;
        dose.keep_sources(file, data);
    }
    // What each architecture offers: one thread each (the indices are
    // independent; decompressing and parsing them is most of the work).
    let views: Vec<Result<ArchView, SyncError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = a
            .architectures
            .iter()
            .map(|arch| {
                let (dist, release, pas, dose, sources) = (&dist, &release, &pas, &dose, &sources);
                scope.spawn(move || {
                    read_arch(config, suite, arch, dist, release, pas, dose, sources)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SyncError::MissingIndex(
                        "internal error: reading an architecture's indices panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let views = views.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Read::New(Box::new(SuiteData {
        suite: suite.to_string(),
        release,
        sha256,
        sources,
        views,
    })))
}

/// Reads what `arch` offers: its Packages (and `binary-all`, and the
/// debian-installer ones when listed), checked against the Release, and
/// dose-builddebcheck's verdict when it is used.
#[allow(clippy::too_many_arguments)]
fn read_arch(
    config: &Config,
    suite: &str,
    arch: &str,
    dist: &Dist,
    release: &Release,
    pas: &crate::debian::pas::Pas,
    dose: &DoseFiles,
    sources: &HashMap<String, SourceEntry>,
) -> Result<ArchView, SyncError> {
    let a = &config.archive;
    let mut view = ArchView {
        suite: suite.to_string(),
        arch: arch.to_string(),
        arch_all: arch == a.arch_all,
        pas: pas.clone(),
        ..ArchView::default()
    };
    for c in &a.components {
        let lists = [
            (format!("{c}/binary-{arch}/Packages"), true),
            (format!("{c}/binary-all/Packages"), false),
            (
                format!("{c}/debian-installer/binary-{arch}/Packages"),
                false,
            ),
        ];
        for (base, required) in lists {
            let (file, data) = index(dist, release, &base, required)?;
            let Some(data) = data else { continue };
            dose.append(&dose.packages(arch), &data, &file, dist)?;
            for_each_paragraph(&data, Compression::of(&file), &mut |p| {
                if let Some(b) = BinaryEntry::from_paragraph(p) {
                    view.available.add_package(&b.package, &b.version);
                    if let Some(pr) = &b.provides {
                        view.available.add_provides(pr);
                    }
                    let key = (b.source, b.source_version);
                    if b.architecture == "all" {
                        view.built_all.insert(key);
                    } else if b.architecture == arch {
                        view.add_built(&key.0, &key.1, &b.version);
                    }
                }
                Ok(())
            })
            .map_err(|source| SyncError::Index {
                path: dist.path(&file),
                source,
            })?;
        }
    }
    view.dose = dose.check(&view, sources, dist)?;
    Ok(view)
}

/// What dose-builddebcheck reads, in a temporary directory: each
/// architecture's Packages, decompressed, and a Sources holding only the
/// sources that may need building there (not yet built, not excluded), as
/// wanna-build does: the rest needs no verdict, and checking all of a
/// suite costs minutes and gigabytes. None of it when it is not configured
/// or not installed.
struct DoseFiles {
    program: Option<PathBuf>,
    dir: Option<tempfile::TempDir>,
    /// The Sources indices as fetched (checked), to copy paragraphs from.
    sources: Vec<(String, Vec<u8>)>,
}

impl DoseFiles {
    fn new(program: Option<&Path>) -> Result<DoseFiles, SyncError> {
        let program = program.filter(|p| {
            let present = p.is_file();
            if !present {
                tracing::warn!(
                    "archive.dose_builddebcheck {} is not installed (apt-get install dose-builddebcheck); using the built-in installability check",
                    p.display()
                );
            }
            present
        });
        let dir = match program {
            None => None,
            Some(_) => Some(tempfile::tempdir().map_err(|source| SyncError::Read {
                path: std::env::temp_dir(),
                source,
            })?),
        };
        Ok(DoseFiles {
            program: program.map(Path::to_path_buf),
            dir,
            sources: Vec::new(),
        })
    }

    fn packages(&self, arch: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.path().join(format!("Packages_{arch}")))
    }

    /// Keeps a Sources index for [`DoseFiles::check`] (dropped when dose
    /// is not used).
    fn keep_sources(&mut self, file: String, data: Vec<u8>) {
        if self.dir.is_some() {
            self.sources.push((file, data));
        }
    }

    /// Appends the decompressed index `data` (`file`) to `to`.
    fn append(
        &self,
        to: &Option<PathBuf>,
        data: &[u8],
        file: &str,
        dist: &Dist,
    ) -> Result<(), SyncError> {
        let Some(to) = to else { return Ok(()) };
        let io = |source| SyncError::Read {
            path: to.clone(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(to)
            .map_err(io)?;
        let mut w = std::io::BufWriter::new(f);
        crate::inbound::archive::decompress_to(data, Compression::of(file), &mut w).map_err(
            |source| SyncError::Index {
                path: dist.path(file),
                source,
            },
        )?;
        std::io::Write::flush(&mut w).map_err(io)
    }

    /// Runs dose-builddebcheck for `view`'s architecture over the sources
    /// that may need building there; `None` when it is not used.
    fn check(
        &self,
        view: &ArchView,
        sources: &HashMap<String, SourceEntry>,
        dist: &Dist,
    ) -> Result<Option<HashMap<String, String>>, SyncError> {
        let (Some(program), Some(dir), Some(packages)) =
            (&self.program, &self.dir, self.packages(&view.arch))
        else {
            return Ok(None);
        };
        let wanted: std::collections::HashSet<(&str, &str)> = sources
            .values()
            .filter(|e| view.builds(e).is_ok() && !view.has_binaries(e))
            .map(|e| (e.package.as_str(), e.version.as_str()))
            .collect();
        if wanted.is_empty() {
            return Ok(Some(HashMap::new()));
        }
        let path = dir.path().join(format!("Sources_{}", view.arch));
        let io = |source| SyncError::Read {
            path: path.clone(),
            source,
        };
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
        for (file, data) in &self.sources {
            crate::inbound::archive::for_each_raw_paragraph(
                data,
                Compression::of(file),
                &mut |raw, p| {
                    let name = p.get_single("Package").unwrap_or("").trim();
                    let version = p.get_single("Version").unwrap_or("").trim();
                    if wanted.contains(&(name, version)) {
                        std::io::Write::write_all(&mut w, raw.trim_end().as_bytes())
                            .and_then(|()| std::io::Write::write_all(&mut w, b"\n\n"))
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                },
            )
            .map_err(|source| SyncError::Index {
                path: dist.path(file),
                source,
            })?;
        }
        std::io::Write::flush(&mut w).map_err(io)?;
        drop(w);
        dose::check(program, &view.arch, view.arch_all, &[&packages], &path)
            .map(Some)
            .map_err(SyncError::Dose)
    }
}

/// The largest file `sync` downloads (an index of a big suite is a few
/// hundred MB uncompressed; compressed far less).
pub const MAX_DOWNLOAD: u64 = 1 << 30;

/// The largest Release, InRelease, Release.gpg or Packages-arch-specific
/// file read (Debian's InRelease is about 150 KB).
pub const MAX_RELEASE: u64 = 16 << 20;

/// How long one download may take.
pub const DOWNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A suite's directory of the archive: local or over HTTP(S).
struct Dist {
    /// `<root>/dists/<suite>`, a directory or a URL.
    base: String,
    /// The HTTP agent, for a URL.
    agent: Option<ureq::Agent>,
}

impl Dist {
    fn new(root: &crate::config::Location, suite: &str) -> Dist {
        match root {
            crate::config::Location::Local(d) => Dist {
                base: d.join("dists").join(suite).to_string_lossy().into_owned(),
                agent: None,
            },
            crate::config::Location::Url(u) => Dist {
                base: format!("{u}/dists/{suite}"),
                agent: Some(agent()),
            },
        }
    }

    /// Where `name` is, for messages.
    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}/{name}", self.base))
    }

    /// The bytes of `name`; `None` when the archive does not have it
    /// (ENOENT, HTTP 404/410).
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SyncError> {
        self.get_at_most(name, MAX_RELEASE)
    }

    /// [`Dist::get`], reading at most `limit` bytes (and one more, so that
    /// a longer file shows as longer): a hostile mirror cannot make `sync`
    /// read more than the Release lists.
    fn get_at_most(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SyncError> {
        use std::io::Read;
        let path = self.path(name);
        let Some(agent) = &self.agent else {
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(SyncError::Read { path, source }),
            };
            let mut data = Vec::new();
            return match file.take(limit.saturating_add(1)).read_to_end(&mut data) {
                Ok(_) => Ok(Some(data)),
                Err(source) => Err(SyncError::Read { path, source }),
            };
        };
        http_get(agent, &path.to_string_lossy(), limit.saturating_add(1))
    }
}

/// The HTTP agent `sync` downloads with: a deadline per file, its name.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .user_agent(concat!("buildmail/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// GETs `url` (at most `limit` bytes, and never more than
/// [`MAX_DOWNLOAD`]); `None` for 404 and 410.
fn http_get(agent: &ureq::Agent, url: &str, limit: u64) -> Result<Option<Vec<u8>>, SyncError> {
    let err = |e: ureq::Error| SyncError::Read {
        path: PathBuf::from(url),
        source: std::io::Error::other(e.to_string()),
    };
    match agent.get(url).call() {
        Ok(mut resp) => resp
            .body_mut()
            .with_config()
            .limit(limit.min(MAX_DOWNLOAD))
            .read_to_vec()
            .map(Some)
            .map_err(err),
        Err(ureq::Error::StatusCode(404 | 410)) => Ok(None),
        Err(e) => Err(err(e)),
    }
}

/// The first of `<base>.xz`, `<base>.gz`, `<base>` that the Release lists
/// and the mirror has, checked against the Release: (its path relative to
/// the suite, its bytes). `None` when the Release lists none of them and
/// the index is optional.
fn index(
    dist: &Dist,
    release: &Release,
    base: &str,
    required: bool,
) -> Result<(String, Option<Vec<u8>>), SyncError> {
    let mut listed = false;
    for name in [format!("{base}.xz"), format!("{base}.gz"), base.to_string()] {
        let Some(expect) = release.sha256.get(&name) else {
            continue;
        };
        listed = true;
        let path = dist.path(&name);
        let Some(data) = dist.get_at_most(&name, expect.size)? else {
            continue;
        };
        if data.len() as u64 != expect.size {
            return Err(SyncError::Mismatch {
                path,
                what: "size",
                expected: expect.size.to_string(),
                found: data.len().to_string(),
            });
        }
        let found = hex_sha256(&data);
        if found != expect.sha256 {
            return Err(SyncError::Mismatch {
                path,
                what: "SHA256",
                expected: expect.sha256.clone(),
                found,
            });
        }
        return Ok((name, Some(data)));
    }
    if required {
        return Err(SyncError::MissingIndex(format!(
            "{}: {}",
            dist.path(base).display(),
            if listed {
                "listed in the Release but missing from the mirror (as .xz, .gz and plain)"
            } else {
                "not listed in the Release (as .xz, .gz or plain): check archive.components and archive.architectures"
            }
        )));
    }
    Ok((base.to_string(), None))
}
