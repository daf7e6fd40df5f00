//! buildmail: the mail brain of a Debian-style build farm.
//!
//! Reads sbuild build-log mails, keeps every build's wanna-build state in an
//! embedded sled database, and answers questions about it. See the README
//! and `design.md` for the whole picture.

pub mod archive;
pub mod changes;
pub mod cli;
pub mod command;
pub mod config;
pub mod explain;
pub mod ingest;
pub mod mail;
pub mod notify;
mod process;
pub mod reply;
pub mod sbuild;
pub mod signature;
pub mod state;
pub mod store;
pub mod transport;
pub mod upload;
pub mod work;
