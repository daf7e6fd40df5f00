//! The model: what buildmail knows about a build and what it queues for
//! one. [`state`] holds the states and the one transition table;
//! [`records`] the records the store keeps. Plain data and pure rules: no
//! I/O, no mail, no storage engine.

pub mod explanation;
pub mod records;
pub mod state;

pub use explanation::{ExplainTask, Explanation};
pub use records::*;
pub use state::State;
