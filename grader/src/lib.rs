//! The socklab grader: grades a socket-programming lab submission, written in
//! any language, by running scripted exchanges against it in a cell.
//!
//! Data flows one way (see docs/ARCHITECTURE.md): a lab file is loaded into a
//! [`lab::Lab`]; [`submission::plan`] decides how to run the submission;
//! [`run::grade`] starts it in [`cell`]s and runs every test through the one
//! [`exchange`] engine, which asks the lab's [`protocol`] what the bytes
//! mean, producing an [`outcome::SubmissionResult`]; a [`report`] renders
//! that in any format.

pub mod atomic_file;
pub mod batch;
pub mod cell;
pub mod conventions;
pub mod diagnose;
pub mod ending;
pub mod escape;
pub mod exchange;
pub mod exit_code;
pub mod gradebook;
pub mod hint;
pub mod interpreter;
pub mod lab;
pub mod limits;
pub mod outcome;
pub mod plan;
pub mod protocol;
pub mod readiness;
pub mod report;
pub mod run;
pub mod scratch;
pub mod sentence;
pub mod sha256;
mod shut;
pub mod submission;
pub mod transport;

/// The name callers knew [`run`] by; the command line
/// still uses it.
pub use run as runner;
