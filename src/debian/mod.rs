//! Debian vocabulary: the leaves every other layer builds on. Each rule
//! (what a package name, a version, an architecture is; how versions
//! order; what a `.changes` says; sbuild's status words; dependency
//! relations) is written here once. Nothing here does I/O or knows about
//! mail, the store or the configuration.

pub mod archs;
pub mod changes;
pub mod names;
pub mod order;
pub mod pas;
pub mod people;
pub mod relations;
pub mod release;
pub mod status;
pub mod version;

pub use status::Status;
