//! The command line of the labs' programs, shared by the binaries in each lab
//! crate's `src/bin/`. There is nothing to do here: your work is in the lab's
//! `src/lib.rs`.
//!
//! Servers take `--port P` and `--bind ADDR`; clients take `--host H` and
//! `--port P`. Both also accept `--port=P` and `--help`. Only the standard
//! library is used, so the lab builds without downloading anything.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

/// The port every program of the textbook uses.
pub const DEFAULT_PORT: u16 = 12000;

/// Exit status for a mistake on the command line (the convention of most
/// command-line tools); a program that ran and failed exits with 1.
const USAGE_ERROR: u8 = 2;

/// What a server was asked to do.
pub struct ServerArgs {
    /// The port to listen on; 0 lets the system pick a free one.
    pub port: u16,
    /// The local address to listen on: 0.0.0.0 (the textbook's `''`) means
    /// every IPv4 address of this machine.
    pub bind: IpAddr,
}

/// What a client was asked to do.
pub struct ClientArgs {
    /// The server's host name or IP address.
    pub host: String,
    /// The server's port.
    pub port: u16,
}

/// Reads a server's flags from the process's arguments. On `--help` or a
/// mistake it has already printed what to say, and returns the exit status.
pub fn server_args(program: &str) -> Result<ServerArgs, ExitCode> {
    let usage = format!(
        "usage: {program} [--port P] [--bind ADDR]\n\
         \n  --port P     the port to listen on (default {DEFAULT_PORT}; 0 picks a free one)\
         \n  --bind ADDR  the local address to listen on (default 0.0.0.0, every address)"
    );
    let mut args = ServerArgs {
        port: DEFAULT_PORT,
        bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    for (flag, value) in flags(program, &usage, &["--port", "--bind"])? {
        match flag.as_str() {
            "--port" => match value.parse() {
                Ok(port) => args.port = port,
                Err(_) => {
                    let message = format!("--port: `{value}` is not a port number");
                    return Err(mistake(program, &usage, &message));
                }
            },
            _ => match value.parse() {
                Ok(bind) => args.bind = bind,
                Err(_) => {
                    let message = format!("--bind: `{value}` is not an IP address");
                    return Err(mistake(program, &usage, &message));
                }
            },
        }
    }
    Ok(args)
}

/// Reads a client's flags from the process's arguments. On `--help` or a
/// mistake it has already printed what to say, and returns the exit status.
pub fn client_args(program: &str) -> Result<ClientArgs, ExitCode> {
    let usage = format!(
        "usage: {program} [--host H] [--port P]   (reads standard input)\n\
         \n  --host H  the server's host name or IP address (default 127.0.0.1)\
         \n  --port P  the server's port (default {DEFAULT_PORT})"
    );
    let mut args = ClientArgs {
        host: "127.0.0.1".to_string(),
        port: DEFAULT_PORT,
    };
    for (flag, value) in flags(program, &usage, &["--host", "--port"])? {
        match flag.as_str() {
            "--port" => match value.parse() {
                Ok(port) => args.port = port,
                Err(_) => {
                    let message = format!("--port: `{value}` is not a port number");
                    return Err(mistake(program, &usage, &message));
                }
            },
            _ => args.host = value,
        }
    }
    Ok(args)
}

/// Splits the arguments into `(flag, value)` pairs, accepting only `known`
/// flags, each written `--flag value` or `--flag=value`.
fn flags(program: &str, usage: &str, known: &[&str]) -> Result<Vec<(String, String)>, ExitCode> {
    let mut pairs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{usage}");
            return Err(ExitCode::SUCCESS);
        }
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        if !known.contains(&flag.as_str()) {
            return Err(mistake(
                program,
                usage,
                &format!("unknown argument `{flag}`"),
            ));
        }
        let Some(value) = inline_value.or_else(|| args.next()) else {
            return Err(mistake(program, usage, &format!("{flag} needs a value")));
        };
        pairs.push((flag, value));
    }
    Ok(pairs)
}

fn mistake(program: &str, usage: &str, message: &str) -> ExitCode {
    eprintln!("{program}: {message}\n{usage}");
    ExitCode::from(USAGE_ERROR)
}

/// Turns a failed `bind` into a sentence that says what to do next.
pub fn explain_bind_error(program: &str, address: SocketAddr, error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::AddrInUse => format!(
            "{program}: cannot listen on {address}: the address is already in use, probably \
             by another server (an earlier run still going?). Stop it, or choose another \
             port with --port."
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "{program}: cannot listen on {address}: that is not an address of this machine. \
             Use --bind 0.0.0.0 for every address, or --bind 127.0.0.1."
        ),
        io::ErrorKind::PermissionDenied => format!(
            "{program}: cannot listen on {address}: permission denied (ports below 1024 are \
             reserved for the administrator). Choose another port with --port."
        ),
        _ => format!("{program}: cannot listen on {address}: {error}"),
    }
}
