//! The mail client: `cargo run --bin smtp-client < message.txt` sends the
//! message to the mail sink on 127.0.0.1:2525 (`socklab server smtp-client`),
//! with `-- --host H --port P` to reach another server.
//!
//! This program reads the message from standard input and hands it to
//! `send_mail` in `src/lib.rs`, where your code goes, and turns an error into
//! a message and a failure status. There is nothing to change here.

use std::process::ExitCode;

// The command line every lab program shares.
#[allow(dead_code)]
mod common;

use common::program;

use smtp_client_lab::{Envelope, send_mail};

const PROGRAM: &str = "smtp-client";

/// The handout's sender and recipient.
const FROM: &str = "alice@example.org";
const TO: &str = "bob@example.org";

fn main() -> ExitCode {
    program::run_client(PROGRAM, |host, port, input, output| {
        let mut message = String::new();
        input.read_to_string(&mut message)?;
        if message.trim().is_empty() {
            message = "Subject: socklab\r\n\r\nI love computer networks!\r\n".to_owned();
        }
        let envelope = Envelope {
            from: FROM,
            to: TO,
            message: &message,
        };
        send_mail(host, port, &envelope, output)
    })
}
