//! The `smtp-client` lab: chapter 2's socket assignment "Mail Client".
//!
//! The client sends one mail by talking SMTP itself, without a mail library
//! (Python's `smtplib`): it waits for the server's `220` greeting, then sends
//! `HELO`, `MAIL FROM`, `RCPT TO`, `DATA`, the message and `QUIT`, reading
//! the server's reply to each command before it sends the next, and stopping
//! when a reply says no. Read it beside the assignment's `MailClient.py`
//! skeleton. The rules of the dialogue are in [`crate::smtp`].
//!
//! The assignment sends mail through a real mail server. So that you can
//! test without one, the reference also has a mail *sink*,
//! `socklab server smtp-client`: a strict SMTP server that delivers nowhere
//! and prints every mail it receives.

use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::client_setup;
use crate::smtp::{self, Behaviour, Session, Stage};

/// The port of the sink, and of the client by default: 25 is SMTP's own, but
/// only the administrator may listen there, so the lab uses 2525 as many
/// test servers do.
pub const DEFAULT_PORT: u16 = 2525;

/// How long the client waits for each reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What to send: the envelope's sender and recipient, and the message.
pub struct Envelope<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub message: &'a str,
}

/// Sends one mail to the SMTP server at `host:port`, printing the server's
/// replies (`S:`) and the client's commands (`C:`) as they happen.
pub fn send_mail(
    host: &str,
    port: u16,
    envelope: &Envelope,
    output: &mut dyn Write,
) -> io::Result<()> {
    // `clientSocket = socket(AF_INET, SOCK_STREAM)`,
    // `clientSocket.connect(mailserver)`.
    let mut connection = client_setup::connect(host, port)?;
    connection.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut replies = ReplyReader::default();

    // `recv = clientSocket.recv(1024)`: the server speaks first. Sending
    // before its greeting is a protocol error many servers punish by
    // closing the connection.
    expect(&mut replies, &mut connection, 220, "the greeting", output)?;

    let steps = [
        (format!("HELO {}", client_name()), 250),
        (format!("MAIL FROM:<{}>", envelope.from), 250),
        (format!("RCPT TO:<{}>", envelope.to), 250),
        ("DATA".to_owned(), 354),
    ];
    for (line, code) in steps {
        writeln!(output, "C: {line}")?;
        connection.write_all(&smtp::command(&line))?;
        expect(&mut replies, &mut connection, code, &line, output)?;
    }
    // The message, then `\r\n.\r\n` on its own line.
    writeln!(output, "C: (the message, then .)")?;
    connection.write_all(&smtp::data_block(envelope.message))?;
    expect(
        &mut replies,
        &mut connection,
        250,
        "the end of the message",
        output,
    )?;

    writeln!(output, "C: QUIT")?;
    connection.write_all(&smtp::command("QUIT"))?;
    expect(&mut replies, &mut connection, 221, "QUIT", output)?;
    Ok(())
}

/// The name the client gives in `HELO`.
fn client_name() -> &'static str {
    "socklab-client"
}

/// Reads the next whole reply and checks its code, so the client never
/// carries on after a refusal (a `550` to `RCPT TO` means the mail will not
/// be delivered, and sending it anyway is the bug the lab looks for).
fn expect(
    replies: &mut ReplyReader,
    connection: &mut TcpStream,
    code: u16,
    after: &str,
    output: &mut dyn Write,
) -> io::Result<()> {
    let reply = replies.next(connection)?;
    output.write_all(b"S: ")?;
    output.write_all(&reply.1)?;
    output.flush()?;
    if reply.0 != code {
        return Err(io::Error::other(format!(
            "the server answered {} to {after} where {code} was expected: {}",
            reply.0,
            String::from_utf8_lossy(&reply.1).trim_end()
        )));
    }
    Ok(())
}

/// Collects bytes until a whole reply, all its `250-` lines included, has
/// arrived; keeps whatever came after it for the next reply.
#[derive(Default)]
struct ReplyReader {
    pending: Vec<u8>,
}

impl ReplyReader {
    fn next(&mut self, connection: &mut TcpStream) -> io::Result<(u16, Vec<u8>)> {
        let mut buffer = [0u8; 1024];
        loop {
            if let Some((code, end)) = smtp::parse_reply(&self.pending) {
                let reply: Vec<u8> = self.pending.drain(..end).collect();
                return Ok((code, reply));
            }
            match connection.read(&mut buffer) {
                Ok(0) => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "the server closed the connection before its reply",
                    ));
                }
                Ok(length) => self.pending.extend_from_slice(&buffer[..length]),
                Err(error) if client_setup::is_timeout(&error) => {
                    return Err(io::Error::new(
                        ErrorKind::TimedOut,
                        format!(
                            "no reply from the server within {} seconds",
                            REPLY_TIMEOUT.as_secs()
                        ),
                    ));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// The client as `socklab client smtp-client` runs it: the message is read
/// from `input`.
pub fn run_client(
    host: &str,
    port: u16,
    from: &str,
    to: &str,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> io::Result<()> {
    let mut message = String::new();
    input.read_to_string(&mut message)?;
    if message.is_empty() {
        message = "Subject: socklab\r\n\r\nI love computer networks!\r\n".to_owned();
    }
    send_mail(
        host,
        port,
        &Envelope {
            from,
            to,
            message: &message,
        },
        output,
    )
}

/// The mail sink: a strict SMTP server that accepts mail for anyone and
/// prints each mail to `output` instead of delivering it. One thread per
/// connection.
pub fn serve_sink(listener: TcpListener, output: Arc<Mutex<dyn Write + Send>>) -> io::Result<()> {
    serve_sink_with(listener, Behaviour::default(), output)
}

/// The mail sink, refusing what `behaviour` says (`--refuse ADDRESS`: that
/// recipient gets `550`, so a client's handling of a refusal can be tried).
pub fn serve_sink_with(
    listener: TcpListener,
    behaviour: Behaviour,
    output: Arc<Mutex<dyn Write + Send>>,
) -> io::Result<()> {
    eprintln!("smtp sink listening on {}", listener.local_addr()?);
    if !behaviour.refused_recipients.is_empty() {
        eprintln!(
            "smtp sink: refusing <{}> with 550",
            behaviour.refused_recipients.join(">, <")
        );
    }
    loop {
        let (connection, client) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("smtp sink: accepting a connection failed ({error}); still serving");
                continue;
            }
        };
        let output = Arc::clone(&output);
        let behaviour = behaviour.clone();
        thread::spawn(move || {
            match sink_dialogue(connection, behaviour, &output) {
                // A client that leaves without reading the last reply.
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                    ) => {}
                Err(error) => eprintln!("smtp sink: client {client}: {error}"),
                Ok(()) => {}
            }
        });
    }
}

fn sink_dialogue(
    mut connection: TcpStream,
    behaviour: Behaviour,
    output: &Mutex<dyn Write + Send>,
) -> io::Result<()> {
    connection.set_read_timeout(Some(Duration::from_secs(60)))?;
    connection.write_all(&smtp::greeting().to_bytes())?;
    let mut session = Session::new(behaviour);
    let mut pending = Vec::new();
    let mut buffer = [0u8; 4096];
    while session.stage != Stage::Closed {
        let length = connection.read(&mut buffer)?;
        if length == 0 {
            break;
        }
        pending.extend_from_slice(&buffer[..length]);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let delivered = session.delivered.len();
            let reply = session.on_line(&line);
            // The mail is printed before the 250 that accepts it goes out.
            if session.delivered.len() > delivered {
                let mail = &session.delivered[delivered];
                let mut output = output
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                writeln!(
                    output,
                    "--- mail from <{}> to <{}>",
                    mail.from,
                    mail.to.join(">, <")
                )?;
                output.write_all(&mail.message)?;
                writeln!(output, "--- end of mail")?;
                output.flush()?;
            }
            if let Some(reply) = reply {
                connection.write_all(&reply.to_bytes())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink on a free port of this machine, refusing `refused`; what it
    /// prints is collected in the returned buffer.
    fn sink(refused: &[&str]) -> (u16, Arc<Mutex<Vec<u8>>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let output: Arc<Mutex<dyn Write + Send>> = printed.clone();
        let behaviour = Behaviour {
            refused_recipients: refused.iter().map(|address| address.to_string()).collect(),
            ..Behaviour::default()
        };
        thread::spawn(move || serve_sink_with(listener, behaviour, output));
        (port, printed)
    }

    #[test]
    fn the_sink_refuses_whom_it_is_told_and_delivers_the_rest() {
        let (port, printed) = sink(&["nobody@example.org"]);
        let mut said = Vec::new();
        let refused = send_mail(
            "127.0.0.1",
            port,
            &Envelope {
                from: "alice@example.org",
                to: "nobody@example.org",
                message: "Subject: no\n\nnot for you\n",
            },
            &mut said,
        )
        .unwrap_err();
        assert!(refused.to_string().contains("550"), "{refused}");
        let mut said = Vec::new();
        send_mail(
            "127.0.0.1",
            port,
            &Envelope {
                from: "alice@example.org",
                to: "bob@example.org",
                message: "Subject: yes\n\nI love computer networks!\n",
            },
            &mut said,
        )
        .unwrap();
        // The mail is printed before the 250 that accepts it is sent.
        let printed = String::from_utf8(printed.lock().unwrap().clone()).unwrap();
        assert!(
            printed.contains("--- mail from <alice@example.org> to <bob@example.org>"),
            "{printed}"
        );
        assert!(printed.contains("I love computer networks!"), "{printed}");
        assert!(!printed.contains("not for you"), "{printed}");
    }
}
