//! The command line and `main` every lab program shares: a copy of
//! `labs/common/src/` in the socklab repository (checked to match it), kept
//! in this crate so that it builds on its own. There is nothing to change
//! here: your work is in `src/lib.rs`.

pub mod command_line;
pub mod program;
