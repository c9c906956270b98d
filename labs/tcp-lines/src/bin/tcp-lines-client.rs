//! The tcp-lines client: `printf 'one\ntwo\n' | cargo run --bin tcp-lines-client`,
//! with `-- --host H --port P` to reach another server than 127.0.0.1:12000.
//!
//! This program hands standard input and standard output to `run_client` in
//! `src/lib.rs`, where your code goes, and turns an error into a message and a
//! failure status. There is nothing to change here.

use std::io::{self, Write};
use std::process::ExitCode;

use lab_common::command_line;

// For instructors: `--features reference` runs the reference solution instead
// of the code in `src/lib.rs` (see the handout's instructor note).
#[cfg(feature = "reference")]
use socklab::tcp_lines::run_client;
#[cfg(not(feature = "reference"))]
use tcp_lines_lab::run_client;

const PROGRAM: &str = "tcp-lines-client";

fn main() -> ExitCode {
    let args = match command_line::client_args(PROGRAM) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let outcome = run_client(&args.host, args.port, &mut input, &mut output);
    let _ = output.flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{PROGRAM}: {error}");
            ExitCode::FAILURE
        }
    }
}
