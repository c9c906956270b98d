//! The originals of what every lab crate under `labs/` holds a copy of: its
//! programs' command line and `main` (`src/bin/common/` in each lab), and
//! the harness of its `cargo test` (`tests/harness/mod.rs`). Each lab crate
//! carries its own copy so that it builds on its own, copied anywhere (a
//! student's repository); the repository's tests check that every copy
//! matches the original here. A lab's own code, and the student's work, is
//! in that lab's `src/lib.rs`; nothing here needs changing to complete a lab.

pub mod command_line;
pub mod harness;
pub mod program;
