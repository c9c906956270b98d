//! The `main` of every lab program: read the command line, run the lab's
//! server or client, and turn an error into a message and a failure status.

use std::io::{self, BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use super::command_line;

/// Runs a server: `bind` creates its socket on the address from the command
/// line (`--bind`, `--port`), and `serve` serves on it until an error.
pub fn run_server<Socket>(
    program: &str,
    bind: impl FnOnce(SocketAddr) -> io::Result<Socket>,
    serve: impl FnOnce(Socket) -> io::Result<()>,
) -> ExitCode {
    let args = match command_line::server_args(program) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let address = SocketAddr::new(args.bind, args.port);
    let socket = match bind(address) {
        Ok(socket) => socket,
        Err(error) => {
            eprintln!(
                "{}",
                command_line::explain_bind_error(program, address, &error)
            );
            return ExitCode::FAILURE;
        }
    };
    finish(program, serve(socket))
}

/// Runs a client with standard input and output, against the server the
/// command line names (`--host`, `--port`).
pub fn run_client(
    program: &str,
    client: impl FnOnce(&str, u16, &mut dyn BufRead, &mut dyn Write) -> io::Result<()>,
) -> ExitCode {
    let args = match command_line::client_args(program) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let outcome = client(&args.host, args.port, &mut input, &mut output);
    if outcome.is_err() && output.is_terminal() {
        // The prompt has no newline: end its line so the error starts on its own.
        let _ = output.write_all(b"\n");
    }
    let _ = output.flush();
    finish(program, outcome)
}

fn finish(program: &str, outcome: io::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}
