//! Clients that hard-code the handout's hosts and ports, graded as written in
//! a namespace cell whose network is opened (`Cell::open_network`): every
//! IPv4 address and every name is the cell's. Real namespaces, real sockets
//! and real programs (Python, C, Java where installed), each in the private
//! mount view a grading gives them.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use grader::cell::{
    CELL_HOSTNAME, Cell, CellOptions, CellProcess, IsolationRequest, NetworkRefused, Sandbox,
    SpawnSpec,
};
use grader::scratch::Scratch;
use grader::transport::Transport;

use crate::support;

/// How long a test waits for a program or a peer at most: a bound against a
/// hang, never a pause. Generous for a loaded two-core machine.
const AT_MOST: Duration = Duration::from_secs(60);

/// A namespace cell as a grading opens one (sandboxed, with its view), its
/// network opened; `None`, with the reason printed, where the kernel refuses.
fn open_cell(scratch: &Scratch) -> Option<Cell> {
    open_cell_with(Some(Sandbox::new(scratch.path())))
}

fn open_cell_with(sandbox: Option<Sandbox>) -> Option<Cell> {
    let cell = support::namespace_cell("hard-coded", sandbox)?;
    let started = Instant::now();
    let opened = cell.open_network().expect("the cell's network opens");
    eprintln!(
        "opening the network took {} ms; notes: {:?}",
        started.elapsed().as_millis(),
        opened.notes
    );
    assert!(opened.notes.is_empty(), "{:?}", opened.notes);
    Some(cell)
}

/// The environment a grading passes on, enough for pyenv's shims and a JVM.
fn environment(scratch: &Path) -> Vec<(String, String)> {
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut env: Vec<(String, String)> = ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION"]
        .iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect();
    env.push(("LANG".into(), "C.UTF-8".into()));
    env.push(("TMPDIR".into(), tmp.to_string_lossy().into_owned()));
    env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    env
}

fn spawn(cell: &Cell, scratch: &Path, program: &str, args: &[&str]) -> CellProcess {
    let spec = SpawnSpec {
        program: program.into(),
        args: args.iter().map(|arg| arg.to_string()).collect(),
        cwd: scratch.to_path_buf(),
        env: environment(scratch),
        stdin: Some(Vec::new()),
        any_tcp_port: false,
    };
    cell.spawn(&spec).expect("the program starts")
}

/// Waits for the program to end and returns its standard output, checking
/// it exited with 0.
fn finish(cell: &Cell, process: CellProcess) -> String {
    let exit = process.wait_until(Instant::now() + AT_MOST);
    let end = cell.stop_all(process);
    let stdout = String::from_utf8_lossy(&end.stdout.joined()).into_owned();
    let stderr = String::from_utf8_lossy(&end.stderr.joined()).into_owned();
    assert_eq!(
        exit.map(|exit| exit.to_string()),
        Some("exit status 0".to_string()),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

fn listener(cell: &Cell, port: u16) -> socket2::Socket {
    let socket = cell.socket(Transport::Tcp).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .unwrap();
    socket.listen(8).unwrap();
    // Bounds accept (SO_RCVTIMEO), so a client that never comes fails the test.
    socket.set_read_timeout(Some(AT_MOST)).unwrap();
    socket
}

fn python() -> &'static str {
    "python3"
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

#[test]
fn a_python_client_that_hard_codes_smtp_gmail_com_reaches_the_grader() {
    let scratch = Scratch::create().unwrap();
    let Some(cell) = open_cell(&scratch) else {
        return;
    };
    let peer = listener(&cell, 587);
    let Some(python) = which(python()) else {
        eprintln!("skipped: no python3 on the PATH");
        return;
    };
    let client = spawn(
        &cell,
        scratch.path(),
        &python.to_string_lossy(),
        &[
            "-c",
            "import socket\n\
             s = socket.create_connection(('smtp.gmail.com', 587))\n\
             s.sendall(b'EHLO client\\r\\n')\n\
             print(s.getpeername()[0])\n\
             s.close()\n",
        ],
    );
    let (mut accepted, from) = peer.accept().expect("the client connects");
    let dialled = accepted.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(dialled, SocketAddr::from((Ipv4Addr::LOCALHOST, 587)));
    let mut said = Vec::new();
    accepted.read_to_end(&mut said).unwrap();
    assert_eq!(said, b"EHLO client\r\n", "from {from:?}");
    let stdout = finish(&cell, client);
    assert_eq!(stdout, "127.0.0.1\n");
    let names = cell.names_asked();
    assert!(
        names.contains(&"smtp.gmail.com".to_string()),
        "names asked: {names:?}"
    );
}

/// The textbook pinger's hard-coded remote IP, a lab machine's name through
/// getaddrinfo, and the cell's own host name, from a C client.
#[test]
fn a_c_udp_client_that_hard_codes_a_remote_ip_reaches_the_grader() {
    let scratch = Scratch::create().unwrap();
    let Some(cell) = open_cell(&scratch) else {
        return;
    };
    let Some(cc) = which("cc").or_else(|| which("gcc")) else {
        eprintln!("skipped: no C compiler on the PATH");
        return;
    };
    let source = scratch.path().join("pinger.c");
    std::fs::write(&source, PINGER_C).unwrap();
    let binary = scratch.path().join("pinger");
    let built = std::process::Command::new(cc)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success());
    let server = cell.socket(Transport::Udp).unwrap();
    server
        .bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 12000)).into())
        .unwrap();
    server.set_read_timeout(Some(AT_MOST)).unwrap();
    let client = spawn(&cell, scratch.path(), &binary.to_string_lossy(), &[]);
    let server = std::net::UdpSocket::from(server);
    let mut sources = Vec::new();
    for _ in 0..3 {
        let mut buffer = [0u8; 64];
        let (length, from) = server.recv_from(&mut buffer).expect("a ping arrives");
        let ping = String::from_utf8_lossy(&buffer[..length]).into_owned();
        sources.push((ping.clone(), from.ip().to_string()));
        server
            .send_to(ping.to_uppercase().as_bytes(), from)
            .unwrap();
    }
    // A client that binds no address sends from the one it dialled.
    assert_eq!(
        sources,
        [
            ("Ping 1".to_string(), "10.0.0.1".to_string()),
            ("Ping 2".to_string(), "127.0.0.1".to_string()),
            ("Ping 3".to_string(), "127.0.0.1".to_string()),
        ]
    );
    // The cell's resolver is not taken for a program's socket.
    let listeners = cell.listeners(&client);
    assert!(
        listeners.iter().all(|listener| listener.port != 53),
        "{listeners:?}"
    );
    let stdout = finish(&cell, client);
    assert_eq!(
        stdout,
        format!(
            "PING 1 from 10.0.0.1:12000\n\
             gaia.cs.umass.edu is 127.0.0.1\n\
             PING 2 from 127.0.0.1:12000\n\
             {CELL_HOSTNAME} is 127.0.0.1\n\
             PING 3 from 127.0.0.1:12000\n"
        )
    );
    assert_eq!(cell.names_asked(), ["gaia.cs.umass.edu"]);
}

/// A program in the cell binds port 80 without any capability and reaches
/// it through an address nobody configured; `gethostname()` and
/// `localhost` resolve to the cell.
#[test]
fn programs_bind_low_ports_and_every_address_and_name_is_the_cells() {
    let scratch = Scratch::create().unwrap();
    let Some(cell) = open_cell(&scratch) else {
        return;
    };
    let Some(python) = which(python()) else {
        eprintln!("skipped: no python3 on the PATH");
        return;
    };
    let program = spawn(
        &cell,
        scratch.path(),
        &python.to_string_lossy(),
        &[
            "-c",
            "import os, socket\n\
             server = socket.socket()\n\
             server.bind(('0.0.0.0', 80))\n\
             server.listen()\n\
             client = socket.create_connection(('203.0.113.5', 80))\n\
             conn, peer = server.accept()\n\
             print('uid', os.getuid(), 'dialled', conn.getsockname()[0], 'from', peer[0])\n\
             host = socket.gethostname()\n\
             print(host, socket.gethostbyname(host))\n\
             print('localhost', sorted({a[4][0] for a in socket.getaddrinfo('localhost', 80)}))\n\
             print('example', socket.getaddrinfo('www.example.com', 80)[0][4][0])\n",
        ],
    );
    let stdout = finish(&cell, program);
    assert_eq!(
        stdout,
        format!(
            "uid 1 dialled 203.0.113.5 from 203.0.113.5\n\
             {CELL_HOSTNAME} 127.0.0.1\n\
             localhost ['127.0.0.1']\n\
             example 127.0.0.1\n"
        )
    );
    // localhost and the host name are in the cell's /etc/hosts.
    assert_eq!(cell.names_asked(), ["www.example.com"]);
}

#[test]
fn a_java_client_resolves_through_inet_address() {
    let scratch = Scratch::create().unwrap();
    let Some(cell) = open_cell(&scratch) else {
        return;
    };
    let Some(java) = which("java") else {
        eprintln!("skipped: no java on the PATH");
        return;
    };
    let source = scratch.path().join("Lookup.java");
    std::fs::write(
        &source,
        "import java.net.InetAddress;\n\
         public class Lookup {\n\
           public static void main(String[] args) throws Exception {\n\
             System.out.println(InetAddress.getByName(\"www.example.com\").getHostAddress());\n\
             System.out.println(InetAddress.getLocalHost());\n\
           }\n\
         }\n",
    )
    .unwrap();
    let java = java.canonicalize().unwrap();
    let program = spawn(
        &cell,
        scratch.path(),
        &java.to_string_lossy(),
        &["-Xshare:off", "Lookup.java"],
    );
    let stdout = finish(&cell, program);
    assert_eq!(stdout, format!("127.0.0.1\n{CELL_HOSTNAME}/127.0.0.1\n"));
    assert_eq!(cell.names_asked(), ["www.example.com"]);
}

/// Without a private view (no sandbox, or a kernel that refuses one) the
/// programs see the keeper's own mount namespace, which holds the
/// generated resolver files too.
#[test]
fn names_resolve_to_the_cell_without_a_private_view() {
    let scratch = Scratch::create().unwrap();
    let Some(cell) = open_cell_with(None) else {
        return;
    };
    let Some(python) = which(python()) else {
        eprintln!("skipped: no python3 on the PATH");
        return;
    };
    let program = spawn(
        &cell,
        scratch.path(),
        &python.to_string_lossy(),
        &[
            "-c",
            "import socket\n\
             print(socket.gethostname(), socket.gethostbyname(socket.gethostname()))\n\
             print(socket.gethostbyname('Mail.Example.ORG'))\n",
        ],
    );
    let stdout = finish(&cell, program);
    assert_eq!(stdout, format!("{CELL_HOSTNAME} 127.0.0.1\n127.0.0.1\n"));
    assert_eq!(cell.names_asked(), ["mail.example.org"]);
}

#[test]
fn the_process_tier_says_why_it_cannot() {
    let options = CellOptions {
        isolation: IsolationRequest::Process,
        keeper: None,
        limits: grader::limits::Limits::default(),
        label: None,
        sandbox: None,
    };
    let cell = Cell::open(&options).unwrap();
    let refused = cell.open_network().unwrap_err();
    assert!(matches!(refused, NetworkRefused::ProcessTier { .. }));
    assert_eq!(
        refused.to_string(),
        "hard-coded hosts and ports need the namespace tier, and this grading runs in the process tier (--isolation process was given)"
    );
    assert!(cell.names_asked().is_empty());
}

const PINGER_C: &str = r#"
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int s;

/* Sends `ping` to `to` and prints the reply and where it came from. */
static int ping(const char *ping, const struct sockaddr *to, socklen_t length) {
    char reply[64], from_ip[INET_ADDRSTRLEN];
    struct sockaddr_in from;
    socklen_t from_length = sizeof from;
    if (sendto(s, ping, strlen(ping), 0, to, length) < 0) { perror("sendto"); return 1; }
    ssize_t n = recvfrom(s, reply, sizeof reply - 1, 0, (struct sockaddr *)&from, &from_length);
    if (n < 0) { perror("recvfrom"); return 1; }
    reply[n] = 0;
    inet_ntop(AF_INET, &from.sin_addr, from_ip, sizeof from_ip);
    printf("%s from %s:%d\n", reply, from_ip, ntohs(from.sin_port));
    return 0;
}

/* Resolves `name` with getaddrinfo, as most C clients do, and pings it. */
static int ping_name(const char *message, const char *name) {
    struct addrinfo hints, *found;
    char ip[INET6_ADDRSTRLEN];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(name, "12000", &hints, &found);
    if (rc != 0) { printf("%s: %s\n", name, gai_strerror(rc)); return 1; }
    if (found->ai_family != AF_INET) { printf("%s: not IPv4 first\n", name); return 1; }
    inet_ntop(AF_INET, &((struct sockaddr_in *)found->ai_addr)->sin_addr, ip, sizeof ip);
    printf("%s is %s\n", name, ip);
    rc = ping(message, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    return rc;
}

int main(void) {
    struct sockaddr_in remote;
    char host[256];
    s = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&remote, 0, sizeof remote);
    remote.sin_family = AF_INET;
    remote.sin_port = htons(12000);
    inet_pton(AF_INET, "10.0.0.1", &remote.sin_addr);
    if (ping("Ping 1", (struct sockaddr *)&remote, sizeof remote)) return 1;
    if (ping_name("Ping 2", "gaia.cs.umass.edu")) return 1;
    if (gethostname(host, sizeof host) != 0) { perror("gethostname"); return 1; }
    return ping_name("Ping 3", host);
}
"#;

/// The sample whose UDP client sends to 10.0.0.1:12000 whatever it is told.
const HARD_CODED_IP: &str = "udp-uppercase/client-hard-coded-ip";

fn grade_one_client_test(isolation: IsolationRequest) -> grader::outcome::TestResult {
    support::grade_one_test(
        "udp-uppercase",
        HARD_CODED_IP,
        "client-one-sentence",
        isolation,
    )
}

#[test]
fn a_graded_client_that_hard_codes_an_address_is_told_what_it_dialled() {
    if !support::namespaces_available() {
        eprintln!("skipped: this kernel refuses unprivileged namespaces");
        return;
    }
    let test = grade_one_client_test(IsolationRequest::Namespace);
    assert!(test.outcome.is_pass(), "{:?} {:?}", test.outcome, test.hint);
    let notes = support::transcript_notes(&test);
    assert!(
        notes.iter().any(|note| note
            .starts_with("the client sent to 10.0.0.1:12000, not to the 127.0.0.1:12000")),
        "{notes:#?}"
    );
}

#[test]
fn a_graded_client_that_hard_codes_an_address_hears_why_the_process_tier_cannot_grade_it() {
    let test = grade_one_client_test(IsolationRequest::Process);
    assert!(!test.outcome.is_pass(), "{:?}", test.outcome);
    let hint = test.hint.expect("a hint").text;
    assert!(
        hint.starts_with("Nothing reached the grader's server, which listened on port 12000."),
        "{hint}"
    );
    assert!(hint.contains("the process tier"), "{hint}");
    assert!(hint.contains("the namespace tier can"), "{hint}");
}
