//! A test archive in the Debian layout: Sources, Packages and an
//! InRelease signed by a test key, written as one [`Snapshot`] at a time.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::farm::*;
use super::keys::*;

pub fn archive_key() -> &'static TestKey {
    static K: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        make_key(KeySpec {
            uid: "Test Archive Signing Key <ftpmaster@example.org>".into(),
            ..KeySpec::default()
        })
    })
}

/// One state of the test archive.
pub struct Snapshot<'a> {
    pub date: i64,
    pub valid_until: Option<i64>,
    pub sources: &'a str,
    /// (arch, Packages text)
    pub packages: &'a [(&'a str, &'a str)],
    pub signer: &'a TestKey,
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    lzma_rs::xz_compress(&mut &data[..], &mut out).unwrap();
    out
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn rfc2822(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S UTC")
        .to_string()
}

/// Writes `s` as `dists/unstable` of the archive at `root`: Sources.xz,
/// Packages.gz per architecture, and an InRelease listing them.
pub fn publish(root: &Path, s: &Snapshot<'_>) {
    let dist = root.join("dists/unstable");
    let _ = std::fs::remove_dir_all(&dist);
    let mut files: Vec<(String, Vec<u8>)> =
        vec![("main/source/Sources.xz".into(), xz(s.sources.as_bytes()))];
    for (arch, text) in s.packages {
        files.push((
            format!("main/binary-{arch}/Packages.gz"),
            gz(text.as_bytes()),
        ));
    }
    let mut release = format!(
        "Origin: Test\nSuite: unstable\nCodename: sid\nDate: {}\n",
        rfc2822(s.date)
    );
    if let Some(v) = s.valid_until {
        release.push_str(&format!("Valid-Until: {}\n", rfc2822(v)));
    }
    release.push_str("Architectures: amd64 arm64\nComponents: main\nSHA256:\n");
    for (name, data) in &files {
        let p = dist.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        release.push_str(&format!(
            " {} {} {name}\n",
            hex::encode(Sha256::digest(data)),
            data.len()
        ));
    }
    let signed = clearsign(s.signer, release.as_bytes(), SignSpec::at(s.date));
    std::fs::write(dist.join("InRelease"), signed).unwrap();
}

pub fn farm(root: &Path) -> Farm {
    farm_with(root, "")
}

pub fn farm_with(root: &Path, extra: &str) -> Farm {
    let keyring = root.join("archive-key.asc");
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(&keyring, archive_key().armored_public()).unwrap();
    Farm::with(&format!(
        "[archive]\nroot = {root:?}\nsuites = [\"unstable\"]\narchitectures = [\"amd64\", \"arm64\"]\narch_all = \"amd64\"\nrelease_keyrings = [{keyring:?}]\n{extra}"
    ))
}

/// A generated suite of `n` sources (`src00000`, ...; `Architecture:
/// any`, priorities and sections varied): its Sources, and an amd64
/// Packages in which every third source is built already.
pub fn generated(n: usize) -> (String, String) {
    let priorities = ["required", "important", "standard", "optional", "extra"];
    let sections = ["base", "libs", "devel", "utils", "misc", "games"];
    let mut sources = String::with_capacity(n * 100);
    let mut packages = String::with_capacity(n * 40);
    for i in 0..n {
        sources.push_str(&format!(
            "Package: src{i:05}\nVersion: 1.{i}-1\nArchitecture: any\nSection: {}\nPriority: {}\n\n",
            sections[i % sections.len()],
            priorities[i % priorities.len()]
        ));
        if i % 3 == 0 {
            packages.push_str(&format!(
                "Package: bin{i:05}\nVersion: 1.{i}-1\nArchitecture: amd64\nSource: src{i:05}\n\n"
            ));
        }
    }
    (sources, packages)
}
