//! The grader's exit codes, in one place.
//!
//! A student's failure is a result, never an error: grading that finished
//! exits 0 whatever the score.

/// Grading finished.
pub const GRADED: i32 = 0;
/// `--fail-under` was given and the score is below it.
pub const BELOW_THRESHOLD: i32 = 1;
/// Bad input: an unknown lab, a malformed lab file, an unreadable submission,
/// an output path that cannot take the output (checked before grading).
pub const BAD_INPUT: i32 = 2;
/// The grader itself failed.
pub const GRADER_FAILED: i32 = 3;

/// A batch stopped by a signal (Ctrl-C, SIGTERM) exits as a shell reports a
/// process the signal ended: 128 + the signal's number (130, 143). What it
/// finished is kept; a rerun grades the rest.
pub fn interrupted_by(signal: i32) -> i32 {
    128 + signal
}
