//! The HTML reports, read by a real browser: headless Chromium loads the
//! class report of a generated batch and each check is made on the DOM it
//! built (`--dump-dom`), not on the file the grader wrote; a screenshot of
//! the report is kept as a test artifact. A hostile submission's output and
//! name must reach both pages as text, and run nothing: its payloads would
//! load URLs on a listener this test owns, and set the page title, and the
//! test checks that neither happened, while a control page proves that the
//! same browser, run the same way, does reach the listener.
//!
//! Without Chromium (package `chromium`, installed by `.ci/run`) the browser
//! checks are skipped with a printed reason, unless SOCKLAB_REQUIRE_CHROMIUM
//! is set, as `.ci/run` sets it once Chromium is installed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grader::gradebook::{Gradebook, RowStatus, Shard};
use regex::Regex;

use crate::support::{copy_dir, grader_binary, repo};

const LAB: &str = "tcp-uppercase";

/// Where the screenshots are kept for a person to look at.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn grader(args: &[&str]) -> Output {
    let output = Command::new(grader_binary())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("the grader runs");
    assert!(
        output.status.success(),
        "grader {args:?}: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// The Chromium binary, or why there is none.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("SOCKLAB_REQUIRE_CHROMIUM").is_none(),
            "SOCKLAB_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!(
            "skipped: the browser checks need Chromium (apt-get install chromium), and none is on PATH"
        );
    }
    found
}

/// A headless Chromium run on `page` with a fresh profile: the DOM it
/// built, after the page's own scripts ran.
fn browse(chromium: &Path, page: &Path, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        // Lets timers and pending loads the page starts run before the DOM
        // is taken: a payload that acts late is still seen acting.
        "--virtual-time-budget=3000",
    ]);
    command.arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => {
            command.arg(format!("--screenshot={}", path.display()));
            command.arg("--window-size=1200,2600");
        }
        None => {
            command.arg("--dump-dom");
        }
    }
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut child = command
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Only a guard against a browser that never returns: no result depends
    // on how long it took.
    let give_up = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish with {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = reader.join().unwrap();
    let errors = errors.join().unwrap();
    assert!(status.success(), "chromium failed: {status:?}\n{errors}");
    if let Some(path) = screenshot {
        assert!(path.is_file(), "no screenshot written\n{errors}");
    } else {
        assert!(dom.contains("</html>"), "no DOM dumped\n{errors}");
    }
    dom
}

/// The values of attribute `name` of every element with class `class`, in
/// document order.
fn attributes(dom: &str, class: &str, name: &str) -> Vec<String> {
    let element = Regex::new(r#"<[a-z]+((?:\s+[a-zA-Z-]+(?:="[^"]*")?)*)\s*/?>"#).unwrap();
    let attribute = Regex::new(r#"([a-zA-Z-]+)="([^"]*)""#).unwrap();
    let mut values = Vec::new();
    for tag in element.captures_iter(dom) {
        let attributes: Vec<(&str, &str)> = attribute
            .captures_iter(tag.get(1).map_or("", |m| m.as_str()))
            .map(|pair| (pair.get(1).unwrap().as_str(), pair.get(2).unwrap().as_str()))
            .collect();
        let has_class = attributes
            .iter()
            .any(|(key, value)| *key == "class" && value.split_whitespace().any(|c| c == class));
        if has_class {
            let value = attributes
                .iter()
                .find(|(key, _)| *key == name)
                .unwrap_or_else(|| panic!("no {name} on an element of class {class}"));
            values.push(value.1.to_string());
        }
    }
    values
}

/// Decodes the entities `escape::html` writes, as a browser would.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The class report of a batch of the bundled samples, checked in the
/// browser against the gradebook.
fn check_class_report(chromium: &Path, page: &Path, book: &Gradebook, name: &str) {
    let dom = browse(chromium, page, None);
    // The histogram counts every submission with a score, once.
    let bins: usize = attributes(&dom, "bin", "data-count")
        .iter()
        .map(|count| count.parse::<usize>().unwrap())
        .sum();
    let scored = book
        .submissions
        .iter()
        .filter(|row| row.status != RowStatus::Error)
        .count();
    assert_eq!(bins, scored, "{name}: histogram bars");
    assert_eq!(scored, book.summary.graded + book.summary.not_runnable);
    // Every test's pass rate is the gradebook's.
    let tests = attributes(&dom, "test-rate", "data-test");
    let passed = attributes(&dom, "test-rate", "data-passed");
    let counted = attributes(&dom, "test-rate", "data-counted");
    assert_eq!(tests.len(), book.tests.len(), "{name}: one row per test");
    let mut shown_rates = Vec::new();
    for ((id, passed), counted) in tests.iter().zip(&passed).zip(&counted) {
        let summary = book
            .summary
            .tests
            .iter()
            .find(|test| test.id == *id)
            .unwrap_or_else(|| panic!("{name}: test `{id}` is not in the gradebook"));
        assert_eq!(
            (
                passed.parse::<usize>().unwrap(),
                counted.parse::<usize>().unwrap()
            ),
            (summary.passed, summary.counted),
            "{name}: test `{id}`"
        );
        // The percentage shown is the gradebook's rate.
        let row = Regex::new(&format!(r#"(?s)data-test="{id}".*?<b>(\d+)%</b>"#)).unwrap();
        let shown: f64 = row.captures(&dom).expect("a shown rate")[1]
            .parse()
            .unwrap();
        let rate = summary.pass_rate.expect("rows were counted");
        assert_eq!(shown, (rate * 100.0).round(), "{name}: test `{id}` rate");
        shown_rates.push(rate);
    }
    assert!(
        shown_rates.windows(2).all(|pair| pair[0] <= pair[1]),
        "{name}: the most failed test comes first: {shown_rates:?}"
    );
    // Every submission that could not run is listed.
    let listed: Vec<String> = attributes(&dom, "unrunnable", "data-name")
        .iter()
        .map(|name| unescape(name))
        .collect();
    let expected: Vec<String> = book
        .submissions
        .iter()
        .filter(|row| row.status != RowStatus::Graded)
        .map(|row| row.name.clone())
        .collect();
    assert!(
        !expected.is_empty(),
        "{name}: the batch has unrunnable submissions"
    );
    assert_eq!(listed, expected, "{name}: not-runnable list");
    // The class report's one script sorted nothing yet, and ran: the DOM
    // has every submission row.
    assert_eq!(
        attributes(&dom, "submission", "data-status").len(),
        book.submissions.len()
    );
}

#[test]
fn the_class_report_of_a_batch_reads_right_in_a_browser() {
    let work = tempfile::tempdir().unwrap();
    let class = work.path().join("class");
    let samples = repo().join("fixtures/submissions").join(LAB);
    let mut names: Vec<String> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| samples.join(name).is_dir())
        .collect();
    names.sort();
    for name in &names {
        copy_dir(&samples.join(name), &class.join(name));
    }
    // Two that cannot run: nothing in it, and a manifest that is not TOML.
    std::fs::create_dir_all(class.join("empty")).unwrap();
    std::fs::create_dir_all(class.join("bad-manifest")).unwrap();
    std::fs::write(class.join("bad-manifest/socklab.toml"), "[server\n").unwrap();
    let results = work.path().join("results");
    let gradebook = work.path().join("gradebook.json");
    let batch_html = work.path().join("batch.html");
    grader(&[
        "batch",
        LAB,
        arg(&class),
        "--jobs",
        "2",
        "--seed",
        "18",
        "-o",
        arg(&gradebook),
        "--results-dir",
        arg(&results),
        "--html",
        arg(&batch_html),
    ]);
    let book = Gradebook::from_json(&std::fs::read_to_string(&gradebook).unwrap()).unwrap();
    assert_eq!(book.submissions.len(), names.len() + 2);

    // Several copies of the class: the result files, each under three names.
    let copies = work.path().join("copies");
    std::fs::create_dir_all(&copies).unwrap();
    for entry in std::fs::read_dir(&results).unwrap() {
        let path = entry.unwrap().path();
        for copy in 1..=3 {
            let name = format!("{copy}-{}", path.file_name().unwrap().to_string_lossy());
            std::fs::copy(&path, copies.join(name)).unwrap();
        }
    }
    let report = work.path().join("report/class.html");
    std::fs::create_dir_all(report.parent().unwrap()).unwrap();
    let pages = work.path().join("pages");
    grader(&[
        "report",
        arg(&copies),
        "-o",
        arg(&report),
        "--pages",
        arg(&pages),
    ]);
    let (copied_book, _) = grader::gradebook::results::gradebook(&copies).unwrap();
    assert_eq!(copied_book.submissions.len(), 3 * book.submissions.len());
    // Every submission's link leads to its page.
    let text = std::fs::read_to_string(&report).unwrap();
    for row in &copied_book.submissions {
        let href = format!("../pages/{}.html", row.name);
        assert!(
            text.contains(&format!("href=\"{href}\"")),
            "no link to {href}"
        );
        assert!(report.parent().unwrap().join(&href).is_file(), "{href}");
    }
    // A merge of two shards renders as the whole class does.
    let halves: Vec<PathBuf> = (1..=2)
        .map(|index| {
            let shard = Shard { index, count: 2 };
            let rows = book
                .submissions
                .iter()
                .enumerate()
                .filter(|(position, _)| shard.selects(*position))
                .map(|(_, row)| row.clone())
                .collect();
            let half = Gradebook::new(
                book.lab.clone(),
                book.tests.clone(),
                book.seed,
                Some(shard),
                true,
                rows,
            );
            let path = work.path().join(format!("shard-{index}.json"));
            std::fs::write(&path, half.to_json()).unwrap();
            path
        })
        .collect();
    let merged_html = work.path().join("merged.html");
    grader(&[
        "merge",
        arg(&halves[0]),
        arg(&halves[1]),
        "-o",
        arg(&work.path().join("merged.json")),
        "--html",
        arg(&merged_html),
    ]);
    // Pages need the result files, which a gradebook alone does not hold.
    let refused = Command::new(grader_binary())
        .args([
            "report",
            arg(&gradebook),
            "-o",
            arg(&work.path().join("x.html")),
        ])
        .args(["--pages", arg(&work.path().join("x"))])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let from_gradebook = work.path().join("from-gradebook.html");
    grader(&["report", arg(&gradebook), "-o", arg(&from_gradebook)]);
    let batch_text = std::fs::read_to_string(&batch_html).unwrap();
    assert_eq!(
        std::fs::read_to_string(&merged_html).unwrap(),
        batch_text,
        "the merged class renders as the whole class"
    );
    assert_eq!(
        std::fs::read_to_string(&from_gradebook).unwrap(),
        batch_text
    );

    let Some(chromium) = chromium() else { return };
    check_class_report(&chromium, &batch_html, &book, "batch --html");
    check_class_report(&chromium, &report, &copied_book, "report of 3 copies");
    let screenshot = artifacts().join("class.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(&chromium, &report, Some(&screenshot));
    eprintln!("class report screenshot: {}", screenshot.display());
    let page = pages.join("3-echo.html");
    let student = artifacts().join("student.png");
    let _ = std::fs::remove_file(&student);
    browse(&chromium, &page, Some(&student));
    eprintln!("student page screenshot: {}", student.display());
}

/// A server whose replies, output and name are HTML that would load
/// `http://127.0.0.1:{port}/…` and set the page title if it were markup.
fn hostile_payload(port: u16) -> String {
    format!(
        "<script>fetch('http://127.0.0.1:{port}/script');document.title='PWNED';alert(1)</script>\
         \"><img src=\"http://127.0.0.1:{port}/img\" onerror=\"document.title='PWNED';alert(2)\">\
         '><svg onload=\"fetch('http://127.0.0.1:{port}/svg')\">\
         <meta http-equiv=\"refresh\" content=\"0;url=http://127.0.0.1:{port}/refresh\">\
         <link rel=\"stylesheet\" href=\"http://127.0.0.1:{port}/css\">\
         <style>body{{background:url(http://127.0.0.1:{port}/style)}}</style>"
    )
}

fn hostile_server(port: u16) -> String {
    let payload = hostile_payload(port);
    format!(
        "# Replies, prints and fails with HTML, ANSI escapes and invalid UTF-8.\n\
         import sys\nfrom socket import *\n\
         P = {payload:?}.encode() + b' \\x1b[31mRED\\x1b[0m \\xff\\xfe\\xc3('\n\
         s = socket(AF_INET, SOCK_STREAM)\ns.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)\n\
         s.bind(('', 12000))\ns.listen(5)\n\
         sys.stdout.buffer.write(P + b'\\n'); sys.stdout.flush()\n\
         sys.stderr.buffer.write(P + b'\\n'); sys.stderr.flush()\n\
         c, _ = s.accept()\nc.recv(4096)\nc.sendall(P)\nc.close()\n\
         raise SystemExit(P.decode('utf-8', 'replace'))\n"
    )
}

/// A local HTTP server that answers every request with 204 No Content and
/// keeps each request's first line: what a page asked of the network.
struct Witness {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The request line [`Witness::requests`] sends itself: the witness handles
/// connections in the order they arrived, so once it answers this one it
/// has seen every request made before.
const SYNC: &str = "SYNC";
const STOP: &str = "STOP";

impl Witness {
    fn start() -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                // Only against a client that never finishes its request.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(length) => request.extend_from_slice(&buffer[..length]),
                    }
                }
                let line = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let _ = stream.write_all(
                    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                match line.as_str() {
                    STOP => break,
                    SYNC => {}
                    _ => kept.lock().unwrap().push(line),
                }
            }
        });
        Witness {
            port,
            seen,
            thread: Some(thread),
        }
    }

    fn tell(&self, line: &str) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(format!("{line}\r\n\r\n").as_bytes())
            .unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
    }

    /// Every request made since the last call.
    fn requests(&self) -> Vec<String> {
        self.tell(SYNC);
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.tell(STOP);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn hostile_output_is_text_in_the_browser_and_runs_nothing() {
    let witness = Witness::start();
    let port = witness.port;
    let work = tempfile::tempdir().unwrap();
    let class = work.path().join("class");
    std::fs::create_dir_all(class.join("hostile")).unwrap();
    std::fs::write(class.join("hostile/TCPServer.py"), hostile_server(port)).unwrap();
    // A name is student text too: a directory named like markup, which
    // cannot run (it is empty) so it is also in the not-runnable list.
    let hostile_name = "\"><img src=x onerror=\"document.title='PWNED'\">";
    std::fs::create_dir_all(class.join(hostile_name)).unwrap();
    let results = work.path().join("results");
    grader(&[
        "batch",
        LAB,
        arg(&class),
        "--jobs",
        "1",
        "--seed",
        "3",
        "-o",
        arg(&work.path().join("gradebook.json")),
        "--results-dir",
        arg(&results),
    ]);
    let report = work.path().join("class.html");
    let pages = work.path().join("pages");
    grader(&[
        "report",
        arg(&results),
        "-o",
        arg(&report),
        "--pages",
        arg(&pages),
    ]);
    let student = pages.join("hostile.html");
    let student_text = std::fs::read_to_string(&student).unwrap();
    assert!(
        student_text.contains(&grader::escape::html("<script>fetch(")),
        "the payload reached the student page"
    );
    for text in [&student_text, &std::fs::read_to_string(&report).unwrap()] {
        assert!(!text.contains("<img") && !text.contains("<svg onload"));
        assert!(!text.contains('\u{1b}'), "a raw escape character");
    }

    let Some(chromium) = chromium() else { return };
    // The control: the same browser, run the same way, reaches the
    // listener when a page does ask for it.
    let control = work.path().join("control.html");
    std::fs::write(
        &control,
        format!(
            "<!DOCTYPE html><title>control</title><img src=\"http://127.0.0.1:{port}/control\">"
        ),
    )
    .unwrap();
    browse(&chromium, &control, None);
    let seen = witness.requests();
    assert!(
        seen.iter().any(|line| line.contains("/control")),
        "the control page's request was not seen: {seen:?}"
    );
    // Each page as written, and without its Content-Security-Policy, so
    // that escaping alone is what is checked.
    let csp = Regex::new(r#"<meta http-equiv="Content-Security-Policy"[^>]*>"#).unwrap();
    let title = Regex::new(r"(?s)<title>(.*?)</title>").unwrap();
    for (page, scripts) in [(&student, 0), (&report, 1)] {
        let text = std::fs::read_to_string(page).unwrap();
        assert!(csp.is_match(&text), "{} has a CSP", page.display());
        let bare = page.with_extension("no-csp.html");
        std::fs::write(&bare, csp.replace(&text, "").as_ref()).unwrap();
        for version in [page.as_path(), bare.as_path()] {
            let dom = browse(&chromium, version, None);
            let label = version.display();
            let head = &dom[..dom.find("</head>").expect("a head")];
            let titles: Vec<&str> = title
                .captures_iter(head)
                .map(|found| found.get(1).unwrap().as_str())
                .collect();
            assert_eq!(titles.len(), 1, "{label}: one title");
            assert!(
                !titles[0].contains("PWNED"),
                "{label}: a payload set the title"
            );
            for tag in [
                "<img",
                "<svg onload",
                "<link",
                "<iframe",
                "<meta http-equiv=\"refresh",
            ] {
                assert!(
                    !dom.contains(tag),
                    "{label}: the DOM has an element `{tag}`"
                );
            }
            assert_eq!(dom.matches("<script").count(), scripts, "{label}: scripts");
            assert!(
                !dom.contains("<style>body"),
                "{label}: a student's style element"
            );
            assert!(!dom.contains('\u{1b}'), "{label}: a raw escape character");
        }
    }
    let student_dom = browse(&chromium, &student, None);
    // The bytes are shown, as text: the markup, the ANSI escape and the
    // bytes that are not UTF-8.
    for shown in [
        "<script>fetch('http://127.0.0.1:",
        "\\u{1b}[31mRED",
        "\\xff\\xfe",
    ] {
        assert!(
            student_dom.contains(&grader::escape::html(shown).replace("&#39;", "'")),
            "the student page shows `{shown}`"
        );
    }
    let report_dom = browse(&chromium, &report, None);
    assert!(
        attributes(&report_dom, "unrunnable", "data-name")
            .iter()
            .any(|name| unescape(name) == hostile_name),
        "the hostile name is listed as text"
    );
    let screenshot = artifacts().join("hostile.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(&chromium, &student, Some(&screenshot));
    let seen = witness.requests();
    assert!(seen.is_empty(), "the pages made requests: {seen:?}");
}
