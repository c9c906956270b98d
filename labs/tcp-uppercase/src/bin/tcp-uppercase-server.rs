//! The tcp-uppercase server: `cargo run --bin tcp-uppercase-server`, with
//! `-- --port P` to listen on another port than 12000.
//!
//! This program creates the listening socket and hands it to `serve` in `src/lib.rs`,
//! where your code goes. There is nothing to change here.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;

use lab_common::command_line;

// For instructors: `--features reference` runs the reference solution instead
// of the code in `src/lib.rs` (see the handout's instructor note).
#[cfg(feature = "reference")]
use socklab::tcp_uppercase::serve;
#[cfg(not(feature = "reference"))]
use tcp_uppercase_lab::serve;

const PROGRAM: &str = "tcp-uppercase-server";

fn main() -> ExitCode {
    let args = match command_line::server_args(PROGRAM) {
        Ok(args) => args,
        Err(status) => return status,
    };
    // `serverSocket = socket(AF_INET, SOCK_STREAM)`,
    // `serverSocket.bind(('', serverPort))` and `serverSocket.listen(1)`:
    // `TcpListener::bind` does all three.
    let address = SocketAddr::new(args.bind, args.port);
    let listener = match TcpListener::bind(address) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "{}",
                command_line::explain_bind_error(PROGRAM, address, &error)
            );
            return ExitCode::FAILURE;
        }
    };
    match serve(listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{PROGRAM}: {error}");
            ExitCode::FAILURE
        }
    }
}
