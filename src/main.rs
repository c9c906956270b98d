//! The `socklab` binary: runs any lab's reference server or client.
//!
//! ```text
//! socklab server <LAB> [--port P] [--bind ADDR] [--root DIR] [--loss L --seed N]
//! socklab client <LAB> [--host H] [--port P] [PATH] [--count N --timeout-ms T] [--from A --to B]
//! ```
//!
//! This file only reads the command line and turns errors into messages and
//! exit codes; the labs themselves live in the library, one module each.

use std::io::{self, ErrorKind, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use socklab::{Lab, web_server};

/// Exit code when the server or the client failed: the port was taken, the
/// server did not answer, and so on. (Exit code 2, a mistake on the command
/// line such as an unknown lab, comes from clap, which prints its own message.)
const EXIT_FAILED: u8 = 1;

#[derive(Parser)]
#[command(
    name = "socklab",
    version,
    about = "Reference servers and clients for the socket-programming labs of Kurose & Ross, section 2.7"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a lab's server until it is interrupted (Ctrl-C).
    Server {
        /// The lab whose server to run.
        #[arg(value_parser = lab_parser())]
        lab: Lab,
        /// The port to listen on (default: the lab's, 12000 for the textbook
        /// labs, 6789 for web-server); 0 lets the system pick a free one.
        #[arg(long)]
        port: Option<u16>,
        /// The local address to listen on: 0.0.0.0 for every IPv4 address of
        /// this machine (the textbook's ''), 127.0.0.1 for this machine only.
        #[arg(long, default_value = "0.0.0.0")]
        bind: IpAddr,
        /// web-server only: the folder whose files are served (default: the
        /// working directory).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// udp-pinger only: the share of pings lost, from 0 to 1 (default:
        /// the assignment's 4 in 11).
        #[arg(long, value_name = "L")]
        loss: Option<f64>,
        /// udp-pinger only: the seed that decides which pings are lost and how
        /// long replies are held.
        #[arg(long, value_name = "N", default_value_t = 0)]
        seed: u64,
        /// udp-pinger only: the longest a reply is held, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 0)]
        max_delay_ms: u64,
        /// smtp-client only: a recipient the sink refuses with 550
        /// (repeatable), to try how a client handles a refusal.
        #[arg(long, value_name = "ADDRESS")]
        refuse: Vec<String>,
    },
    /// Run a lab's client once: it reads standard input and prints the replies.
    Client {
        /// The lab whose client to run.
        #[arg(value_parser = lab_parser())]
        lab: Lab,
        /// The server's host name or IP address.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The server's port (default: the lab's).
        #[arg(long)]
        port: Option<u16>,
        /// web-server and web-proxy only: the path to fetch, e.g.
        /// /HelloWorld.html (through a proxy: /www.example.com/index.html).
        path: Option<String>,
        /// udp-pinger only: how many pings to send.
        #[arg(long, value_name = "N", default_value_t = socklab::udp_pinger::PINGS)]
        count: u32,
        /// udp-pinger only: how long to wait for each reply, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        timeout_ms: u64,
        /// smtp-client only: the sender's address.
        #[arg(long, value_name = "ADDRESS", default_value = "alice@example.org")]
        from: String,
        /// smtp-client only: the recipient's address.
        #[arg(long, value_name = "ADDRESS", default_value = "bob@example.org")]
        to: String,
    },
}

/// Accepts exactly the names of [`Lab::ALL`], so that `--help` lists them and
/// an unknown name gets an error that lists them too.
fn lab_parser() -> impl TypedValueParser<Value = Lab> {
    PossibleValuesParser::new(Lab::ALL.map(Lab::name))
        .map(|name| Lab::from_name(&name).expect("clap accepts only the names of Lab::ALL"))
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Server {
            lab,
            port,
            bind,
            root,
            loss,
            seed,
            max_delay_ms,
            refuse,
        } => {
            if !refuse.is_empty() && lab != Lab::SmtpClient {
                eprintln!(
                    "socklab: --refuse is for smtp-client; the {} server has no recipients",
                    lab.name()
                );
                return ExitCode::from(EXIT_FAILED);
            }
            if lab == Lab::SmtpClient && !refuse.is_empty() {
                let behaviour = socklab::smtp::Behaviour {
                    refused_recipients: refuse,
                    ..socklab::smtp::Behaviour::default()
                };
                let port = port.unwrap_or(lab.default_port());
                let served = TcpListener::bind((bind, port)).and_then(|listener| {
                    socklab::smtp_client::serve_sink_with(
                        listener,
                        behaviour,
                        std::sync::Arc::new(std::sync::Mutex::new(io::stdout())),
                    )
                });
                if let Err(error) = served {
                    eprintln!("socklab: {}", explain_server_error(lab, bind, port, error));
                    return ExitCode::from(EXIT_FAILED);
                }
                return ExitCode::SUCCESS;
            }
            let port = port.unwrap_or(lab.default_port());
            let pinger = PingerOptions {
                loss,
                seed,
                max_delay: Duration::from_millis(max_delay_ms),
            };
            run_server(lab, bind, port, root, pinger)
                .map_err(|error| explain_server_error(lab, bind, port, error))
        }
        Command::Client {
            lab,
            host,
            port,
            path,
            count,
            timeout_ms,
            from,
            to,
        } => {
            let port = port.unwrap_or(lab.default_port());
            let mut input = io::stdin().lock();
            let mut output = io::stdout().lock();
            let outcome = match (lab, path) {
                (Lab::WebServer, path) => socklab::web_client::run_client(
                    &host,
                    port,
                    path.as_deref().unwrap_or("/"),
                    &mut output,
                ),
                (Lab::SmtpClient, None) => socklab::smtp_client::run_client(
                    &host,
                    port,
                    &from,
                    &to,
                    &mut input,
                    &mut output,
                ),
                (Lab::UdpPinger, None) => socklab::udp_pinger::run_client(
                    &host,
                    port,
                    count,
                    Duration::from_millis(timeout_ms),
                    &mut output,
                ),
                (_, Some(_)) => Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the {} client reads its sentence from standard input; a PATH is for web-server",
                        lab.name()
                    ),
                )),
                (_, None) => socklab::run_client(lab, &host, port, &mut input, &mut output),
            };
            if outcome.is_err() && output.is_terminal() {
                // The prompt has no newline. At a terminal, where standard
                // output and standard error share the screen, end its line so
                // the error starts on a line of its own. Redirected output is
                // left exactly as the client wrote it.
                let _ = output.write_all(b"\n");
            }
            let _ = output.flush();
            outcome.map_err(|error| error.to_string())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("socklab: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The pinger server's options; the other labs take none.
struct PingerOptions {
    loss: Option<f64>,
    seed: u64,
    max_delay: Duration,
}

/// Starts the lab's server; only the web server takes a document root, and
/// only the pinger's server loses pings.
fn run_server(
    lab: Lab,
    bind: IpAddr,
    port: u16,
    root: Option<PathBuf>,
    pinger: PingerOptions,
) -> io::Result<()> {
    if lab == Lab::UdpPinger {
        let loss = pinger.loss.unwrap_or(socklab::udp_pinger::HANDOUT_LOSS);
        if !(0.0..=1.0).contains(&loss) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("--loss {loss}: the share of lost pings is between 0 and 1"),
            ));
        }
        let plan = socklab::udp_pinger::LossPlan {
            seed: pinger.seed,
            loss,
            max_delay: pinger.max_delay,
        };
        return socklab::udp_pinger::serve(UdpSocket::bind((bind, port))?, plan);
    }
    if pinger.loss.is_some() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "--loss is for udp-pinger; the {} server loses nothing",
                lab.name()
            ),
        ));
    }
    match (lab, root) {
        (Lab::WebServer, Some(root)) => {
            if !root.is_dir() {
                return Err(io::Error::new(
                    ErrorKind::NotFound,
                    format!("--root {}: no such folder", root.display()),
                ));
            }
            web_server::serve(TcpListener::bind((bind, port))?, root)
        }
        (_, Some(_)) => Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "--root is for web-server; the {} server serves no files",
                lab.name()
            ),
        )),
        (_, None) => socklab::serve(lab, bind, port),
    }
}

/// A server stops only when it cannot start: binding its socket failed. The
/// common causes get a sentence that says what to do next.
fn explain_server_error(lab: Lab, bind: IpAddr, port: u16, error: io::Error) -> String {
    let address = SocketAddr::new(bind, port);
    let lab = lab.name();
    match error.kind() {
        ErrorKind::AddrInUse => format!(
            "cannot start the {lab} server on {address}: the address is already in use, \
             probably by another server (an earlier run still going?). Stop it, or choose \
             another port with --port."
        ),
        ErrorKind::AddrNotAvailable => format!(
            "cannot start the {lab} server on {address}: {bind} is not an address of this \
             machine. Use --bind 0.0.0.0 for every address, or --bind 127.0.0.1."
        ),
        ErrorKind::PermissionDenied => format!(
            "cannot start the {lab} server on {address}: permission denied (ports below 1024 \
             are reserved for the administrator). Choose another port with --port."
        ),
        _ => format!("the {lab} server on {address} failed: {error}"),
    }
}
