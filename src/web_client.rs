//! The web-server assignment's optional client: `client.py server_host
//! server_port filename`. It sends one GET and prints the response, read as
//! a strict client reads it ([`crate::http_response`]).

use std::io::{self, ErrorKind, Read, Write};
use std::time::Duration;

use crate::client_setup;
use crate::http;
use crate::http_response::{self, Parsed};

/// How long the client waits for the whole response.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The handout's optional client: `client.py server_host server_port
/// filename`. Sends one GET for `target` and prints the response: the status
/// line and headers as text, then the body's bytes as they came.
pub fn run_client(host: &str, port: u16, target: &str, output: &mut dyn Write) -> io::Result<()> {
    let target = if target.starts_with('/') {
        target.to_owned()
    } else {
        format!("/{target}")
    };
    let mut connection = client_setup::connect(host, port)?;
    connection.write_all(&http::get_request(host, &target, "HTTP/1.1"))?;
    connection.set_read_timeout(Some(RESPONSE_TIMEOUT))?;

    // Read until the response is complete: `Content-Length` bytes of body, or
    // the server's close when it sends no length.
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let response = loop {
        let closed = match connection.read(&mut buffer) {
            Ok(0) => true,
            Ok(length) => {
                received.extend_from_slice(&buffer[..length]);
                false
            }
            Err(error) if client_setup::is_timeout(&error) => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!(
                        "the server sent no complete response within {} seconds",
                        RESPONSE_TIMEOUT.as_secs()
                    ),
                ));
            }
            Err(error) => return Err(error),
        };
        match http_response::parse_response(&received, closed) {
            Parsed::Incomplete => continue,
            Parsed::Complete(response) => break response,
            Parsed::Malformed(fault) => {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("the server's response is not valid HTTP: {fault}"),
                ));
            }
        }
    };
    output.write_all(&received[..response.head_length])?;
    output.write_all(&response.body)?;
    output.flush()?;
    if response.status >= 400 {
        return Err(io::Error::other(format!(
            "the server answered {} {}",
            response.status, response.reason
        )));
    }
    Ok(())
}
