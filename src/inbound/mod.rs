//! Inbound: everything that reads a mail and says what it is. Pure parsing
//! and checking, no store and no effects.
//!
//! * [`source`]: where mails come from (a stream, Maildir, mbox, files);
//! * [`mail`]: a typed view over mail-parser (headers, subjects, parts,
//!   PGP/MIME, gzip under a limit);
//! * [`sbuild`]: the sbuild log parser (every generation), and
//!   [`explain`]: why a failed build failed;
//! * [`signature`]: OpenPGP verification with sequoia (keyring, cleartext
//!   framing, policy); [`dkim`]: DKIM verification of the archive's mail
//!   (mail-auth; pinned keys or DNS);
//! * [`command`]: admin commands; [`reply`]: reading an admin reply (the
//!   question, the signed text, the request);
//! * [`classify`]: which kind of mail it is, and the facts of a log mail.

pub mod archive;
pub mod classify;
pub mod command;
pub mod dkim;
pub mod explain;
pub mod mail;
pub mod reply;
pub mod sbuild;
pub mod signature;
pub mod source;
