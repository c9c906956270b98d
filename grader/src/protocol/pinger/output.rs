//! Reading a pinger's output as real handouts print it.
//!
//! - A line saying `timed out`, `time out` or `timeout` (any capitals, a
//!   period or not) is a ping given up.
//! - A line showing the server's echo (`PING 3 …`, in the capitals the
//!   server gives it) or saying `reply`, `received`, `response`, `pong` or
//!   `RTT` is a ping answered; its sequence number is the echo's, its RTT
//!   the first number after `RTT` (else the last number after the echo, or
//!   in the line), in seconds unless a unit follows (`ms`, `us`). An `RTT`
//!   line right after a reply line without one gives that reply its RTT.
//! - Summary lines (`min`, `avg`, `max`, `loss`, `lost`, `transmitted`,
//!   `statistics`) and lines about replies skipped (`ignored`, `skipping`,
//!   `discarded`, `stale`) are not pings' lines; the summary's numbers are
//!   read for the `summary` check.

use std::sync::LazyLock;

use regex::Regex;

/// One ping's line.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    TimedOut,
    Reply {
        line: String,
        /// The sequence number of the echo the line shows.
        sequence: Option<u32>,
        rtt: Option<Rtt>,
    },
}

/// A printed RTT, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Rtt {
    pub seconds: f64,
    /// As printed, with its unit.
    pub shown: String,
}

/// The min/avg/max a summary printed, in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub line: String,
    pub min: Option<f64>,
    pub avg: Option<f64>,
    pub max: Option<f64>,
    /// The coarsest precision printed, in seconds (0.001 for `%.3f s`).
    pub step: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    Percent(f64),
    Fraction(f64),
    Count(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LossLine {
    pub line: String,
    pub value: Loss,
}

/// Everything read from a pinger's standard output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Printed {
    pub events: Vec<Event>,
    pub stats: Option<Stats>,
    pub loss: Option<LossLine>,
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

static TIMED_OUT: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\btimed?[ -]?out\b"));
static SKIPPED: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(ignor\w*|skipp\w*|discard\w*|stale|duplicate|usage)\b"));
static SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(min|max|avg|average|mean|minimum|maximum|loss|lost|transmitted|statistics|summary)\b|min/",
    )
});
static LOSS: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\b(loss|lost)\b"));
static ECHO: LazyLock<Regex> = LazyLock::new(|| regex(r"\bPING\s+(\d+)\s+\S+"));
static ANSWERED: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(reply|replied|received|response|pong|rtt)\b"));
static RTT_LABEL: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\brtt\b"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?:\s*(ms|msec|milliseconds?|us|µs|microseconds?|s|secs?|seconds?)\b)?",
    )
});
static PERCENT: LazyLock<Regex> = LazyLock::new(|| regex(r"(\d+(?:\.\d+)?)\s*%"));
static TRIPLE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(min|avg|max|mean|average)/(min|avg|max|mean|average)/(min|avg|max|mean|average)\b[^0-9-]*([-+]?\d+(?:\.\d+)?)\s*/\s*([-+]?\d+(?:\.\d+)?)\s*/\s*([-+]?\d+(?:\.\d+)?)",
    )
});
static LABEL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b(min(?:imum)?|max(?:imum)?|av(?:era)?ge?|avg|mean)\b"));
static MILLISECONDS: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\b(ms|msec|milliseconds?)\b"));

/// A number as printed, in seconds, with the precision it was printed to.
fn number(text: &str) -> Option<(f64, f64, String)> {
    let found = NUMBER.find(text)?;
    let captures = NUMBER.captures(found.as_str())?;
    let unit = captures.get(1).map(|unit| unit.as_str().to_lowercase());
    let digits = match &unit {
        Some(_) => found.as_str()[..captures.get(1)?.start()].trim(),
        None => found.as_str(),
    };
    let value: f64 = digits.parse().ok()?;
    let decimals = digits.split_once('.').map_or(0, |(_, fraction)| {
        fraction.chars().take_while(char::is_ascii_digit).count()
    });
    let scale = match unit.as_deref() {
        Some(unit) if unit.starts_with("ms") || unit.starts_with("milli") => 1e-3,
        Some(unit)
            if unit.starts_with("us") || unit.starts_with("µ") || unit.starts_with("micro") =>
        {
            1e-6
        }
        _ => 1.0,
    };
    Some((
        value * scale,
        10f64.powi(-(decimals as i32)) * scale,
        found.as_str().to_string(),
    ))
}

fn rtt_of(line: &str) -> Option<Rtt> {
    let make = |(seconds, _, shown): (f64, f64, String)| Rtt { seconds, shown };
    if let Some(label) = RTT_LABEL.find(line) {
        return number(&line[label.end()..]).map(make);
    }
    let from = ECHO.find(line).map_or(0, |echo| echo.end());
    NUMBER
        .find_iter(&line[from..])
        .last()
        .and_then(|found| number(found.as_str()))
        .map(make)
}

/// Reads a whole output.
pub fn read(stdout: &[u8]) -> Printed {
    let text = String::from_utf8_lossy(stdout);
    let mut printed = Printed::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if TIMED_OUT.is_match(line) {
            printed.events.push(Event::TimedOut);
            continue;
        }
        if SKIPPED.is_match(line) {
            continue;
        }
        if SUMMARY.is_match(line) {
            summary_line(line, &mut printed);
            continue;
        }
        let echo = ECHO.captures(line);
        let answered = echo.is_some() || ANSWERED.is_match(line);
        if !answered {
            continue;
        }
        // `RTT: 0.1 s` on a line of its own, after the reply's line.
        if echo.is_none() && RTT_LABEL.is_match(line) {
            if let Some(Event::Reply {
                rtt: rtt @ None, ..
            }) = printed.events.last_mut()
            {
                *rtt = rtt_of(line);
                continue;
            }
        }
        printed.events.push(Event::Reply {
            line: line.to_string(),
            sequence: echo.and_then(|echo| echo[1].parse().ok()),
            rtt: rtt_of(line),
        });
    }
    printed
}

fn summary_line(line: &str, printed: &mut Printed) {
    if LOSS.is_match(line) && printed.loss.is_none() {
        let value = if let Some(percent) = PERCENT.captures(line) {
            percent[1].parse().ok().map(Loss::Percent)
        } else {
            let after = LOSS.find(line).map_or(0, |loss| loss.end());
            let found = NUMBER
                .find(&line[after..])
                .or_else(|| NUMBER.find_iter(line).last());
            found.and_then(|found| {
                let digits = found.as_str().split_whitespace().next().unwrap_or("");
                if digits.contains('.') {
                    digits.parse().ok().map(Loss::Fraction)
                } else {
                    digits.parse().ok().map(Loss::Count)
                }
            })
        };
        if let Some(value) = value {
            printed.loss = Some(LossLine {
                line: line.to_string(),
                value,
            });
        }
    }
    if !LABEL.is_match(line) {
        return;
    }
    let scale = if MILLISECONDS.is_match(line) {
        1e-3
    } else {
        1.0
    };
    let stats = printed.stats.get_or_insert_with(Stats::default);
    if !stats.line.is_empty() {
        stats.line.push_str(" / ");
    }
    stats.line.push_str(line);
    let mut assign = |label: &str, digits: &str| {
        let Ok(value) = digits.parse::<f64>() else {
            return;
        };
        let decimals = digits
            .split_once('.')
            .map_or(0, |(_, fraction)| fraction.len());
        stats.step = stats.step.max(10f64.powi(-(decimals as i32)) * scale);
        let label = label.to_lowercase();
        let slot = if label.starts_with("min") {
            &mut stats.min
        } else if label.starts_with("max") {
            &mut stats.max
        } else {
            &mut stats.avg
        };
        slot.get_or_insert(value * scale);
    };
    if let Some(triple) = TRIPLE.captures(line) {
        for at in 1..=3 {
            assign(&triple[at], &triple[at + 3]);
        }
        return;
    }
    let labels: Vec<regex::Match<'_>> = LABEL.find_iter(line).collect();
    for (at, label) in labels.iter().enumerate() {
        let end = labels.get(at + 1).map_or(line.len(), |next| next.start());
        let Some(found) = NUMBER.find(&line[label.end()..end]) else {
            continue;
        };
        let digits = found.as_str().split_whitespace().next().unwrap_or("");
        let digits = digits.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        assign(label.as_str(), digits);
    }
}
