//! buildmail's integration tests, one binary: every module below was a
//! test binary of its own, each linking all of buildmail and its
//! dependencies again. Helpers live in [`support`].

mod support;

mod hardening;

mod admin;
mod archive_sync;
mod blobs;
mod browser;
mod changes_parse;
mod cli;
mod concurrency;
mod conformance_logs;
mod conformance_mails;
mod crash;
mod dkim;
mod effects;
mod explain_later;
mod fixtures;
mod hub;
mod ingest;
mod layers;
mod logging;
mod mail_parts;
mod manual;
mod notify;
mod packaging;
mod pages;
mod pgp_mime;
mod postgres;
mod replies;
mod sbuild_fixtures;
mod serve;
mod signature;
mod transport;
mod upload;
