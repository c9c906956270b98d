//! What the programs of every lab crate under `labs/` share: their command
//! line and their `main`. A lab's own code, and the student's work, is in that lab's
//! `src/lib.rs`; nothing here needs changing to complete a lab.

pub mod command_line;
pub mod program;
