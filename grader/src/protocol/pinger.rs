//! The UDP pinger (udp-pinger): the grader plays the handout's server by a
//! plan drawn from the test's seed (`socklab::udp_pinger::graded_plan`: two
//! pings dropped, one reply held past the client's one-second wait until the
//! next ping comes, seven answered after known delays), and each [`Check`] compares the client's
//! whole run with that plan and with what the grader's server actually
//! received, and when: the pings' sequence numbers, their order, the gaps
//! between them.
//!
//! Every seed's plan has the same kinds of events, so a score never depends
//! on the seed; and the checks read only times the grader measured on its
//! side of the socket (when a ping arrived, when its reply left), so the
//! tolerances stretch with the machine's load instead of being guessed.
//! What the client printed is read as real handouts print it: one line per
//! ping, a reply with its RTT or `Request timed out` in any capitalisation,
//! with or without a period; other lines (a summary, a banner) are left to
//! the check they belong to. How each check reads the output is in
//! [`output`].

pub mod output;

use std::time::{Duration, Instant};

use socklab::udp_pinger::{Fate, PINGS, parse_ping};

use super::{Checked, ClientRunView, ClientSymptom, Timeline};
use crate::diagnose::shown;
use crate::hint::{Hint, HintKind};
use output::{Event, Printed};

/// The server's reply to a ping: the ping in capitals, as the handout's
/// `message.upper()` makes it.
pub fn echo(ping: &[u8]) -> Vec<u8> {
    ping.to_ascii_uppercase()
}

/// The checks a pinger lab's tests make (`check = "…"` in the lab file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Pings were sent and the client ended on its own: not stuck on a
    /// lost ping, not reporting pings it never sent.
    Ends,
    /// Ten well-formed pings `Ping <seq> <time>`, numbered in order.
    Pings,
    /// One line per ping: its reply, or `Request timed out`, as it happened.
    Replies,
    /// Each answered ping's RTT is the time its reply took.
    Rtt,
    /// The next ping only after the reply (or the timeout) of the last.
    Pacing,
    /// A lost ping is given up after about a second.
    OneSecond,
    /// The late reply is not taken for the next ping's.
    LateReply,
    /// Every ping from one socket.
    OneSocket,
    /// The optional summary (min/avg/max, loss rate) agrees with the run.
    Summary,
}

impl Check {
    pub const NAMES: &'static [&'static str] = &[
        "ends",
        "pings",
        "replies",
        "rtt",
        "pacing",
        "one-second",
        "late-reply",
        "one-socket",
        "summary",
    ];

    pub fn named(name: &str) -> Option<Check> {
        Some(match name {
            "ends" => Check::Ends,
            "pings" => Check::Pings,
            "replies" => Check::Replies,
            "rtt" => Check::Rtt,
            "pacing" => Check::Pacing,
            "one-second" => Check::OneSecond,
            "late-reply" => Check::LateReply,
            "one-socket" => Check::OneSocket,
            "summary" => Check::Summary,
            _ => return None,
        })
    }
}

/// How far a printed RTT may fall below the time the grader held the reply:
/// the client may read its clock a little after sending, and the grader
/// notes a ping a little after it arrived.
const RTT_BELOW: Duration = Duration::from_millis(50);

/// How far a printed RTT may exceed the time from the ping's arrival to the
/// next ping's (the longest the client can have waited for it).
const RTT_ABOVE: Duration = Duration::from_millis(100);

/// The range a wait for a lost ping must fall in to be "about a second".
const TIMEOUT_LOW: Duration = Duration::from_millis(800);
const TIMEOUT_HIGH: Duration = Duration::from_millis(1600);

/// What a correct client prints for one ping, from the plan and the times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Reply,
    TimedOut,
    /// The reply was held past one second but reached the client before it
    /// moved on (a longer wait, or a busy machine): either is right here,
    /// and the wait itself is the `one-second` check's.
    Either,
}

/// One ping as the grader's server saw it.
#[derive(Clone, Debug)]
struct Ping {
    /// The datagram's sequence number and the rest of it, when well formed.
    parsed: Option<(u32, String)>,
    /// The server's echo of it, as a client prints it.
    echo: String,
    at: Instant,
    fate: Fate,
    /// When its reply left, if it did.
    replied: Option<Instant>,
    /// When the next ping arrived.
    next: Option<Instant>,
}

impl Ping {
    /// How long the grader held the reply.
    fn held(&self) -> Option<Duration> {
        self.replied
            .map(|replied| replied.saturating_duration_since(self.at))
    }

    /// The plan holds this ping's reply past the client's one second.
    fn late(&self) -> bool {
        matches!(self.fate, Fate::Late { .. })
    }

    /// A dropped ping times out; a reply held under a second is printed; the
    /// late reply times out unless it left before the client moved on. A
    /// reply that left only after the next ping came is judged by neither
    /// (the client gave up early, which `one-second` charges, or took an
    /// older reply for it, which `late-reply` charges).
    fn expected(&self) -> Expected {
        let late = match self.fate {
            Fate::Drop => return Expected::TimedOut,
            Fate::Reply { .. } => false,
            Fate::Late { .. } => true,
        };
        // A reply still held when the client ended left after it moved on;
        // the late reply the next ping releases leaves just after it came.
        let moved_on = match (self.replied, self.next) {
            (Some(replied), Some(next)) => replied >= next,
            (Some(_), None) => false,
            (None, _) => true,
        };
        match (late, moved_on) {
            (true, true) => Expected::TimedOut,
            (true, false) | (false, true) => Expected::Either,
            (false, false) => Expected::Reply,
        }
    }

    fn sequence(&self) -> Option<u32> {
        self.parsed.as_ref().map(|(sequence, _)| *sequence)
    }
}

fn pings(timeline: &Timeline) -> Vec<Ping> {
    let heard = &timeline.heard;
    heard
        .iter()
        .enumerate()
        .map(|(index, datagram)| Ping {
            parsed: parse_ping(&datagram.bytes).filter(|(_, rest)| !rest.is_empty()),
            echo: String::from_utf8_lossy(&echo(&datagram.bytes))
                .trim()
                .to_string(),
            at: datagram.at,
            fate: timeline.plan.get(index).copied().unwrap_or(Fate::Reply {
                delay: Duration::ZERO,
            }),
            replied: timeline
                .answered
                .iter()
                .find(|answer| answer.answers == index)
                .map(|answer| answer.at),
            next: heard.get(index + 1).map(|next| next.at),
        })
        .collect()
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn seconds(value: f64) -> String {
    format!("{value:.6} s")
}

fn fail(checked: &mut Checked, message: String, kind: HintKind, hint: &str) {
    checked.failure = Some((message, Hint::new(kind, hint)));
}

/// The hint of a pinger stopped at the deadline.
pub(super) fn client_hint(symptom: ClientSymptom) -> Option<Hint> {
    match symptom {
        ClientSymptom::StillRunning => Some(Hint::new(
            HintKind::PingerWaitsForever,
            "Your client waited forever for a ping the server lost. UDP never says a datagram is gone: set a one-second timeout before receiving (clientSocket.settimeout(1)), catch the timeout (except timeout:), print `Request timed out` and go on with the next ping.",
        )),
        ClientSymptom::NothingToAnswer | ClientSymptom::RepliesNotPrinted => None,
    }
}

/// Makes one check of one run.
pub fn check(check: Check, run: &ClientRunView<'_>) -> Checked {
    let pings = pings(run.timeline);
    let printed = output::read(run.stdout);
    let mut checked = Checked::default();
    match check {
        Check::Ends => ends(&pings, &printed, &mut checked),
        Check::Pings => well_formed(run.timeline, &pings, &mut checked),
        Check::Replies => replies(&pings, &printed, &mut checked),
        Check::Rtt => rtt(&pings, &printed, run.ended, &mut checked),
        Check::Pacing => pacing(&pings, &printed, &run.timeline.answered, &mut checked),
        Check::OneSecond => one_second(&pings, &mut checked),
        Check::LateReply => late_reply(&pings, &printed, &mut checked),
        Check::OneSocket => one_socket(run.timeline, &mut checked),
        Check::Summary => summary(&pings, &printed, &mut checked),
    }
    checked
}

fn ends(pings: &[Ping], printed: &Printed, checked: &mut Checked) {
    if !pings.is_empty() {
        checked.notes.push(format!(
            "the grader's server received {} pings",
            pings.len()
        ));
        return;
    }
    let timeouts = printed
        .events
        .iter()
        .filter(|event| matches!(event, Event::TimedOut))
        .count();
    if timeouts > 0 {
        fail(
            checked,
            format!(
                "Your client printed {timeouts} `Request timed out`, but no ping reached the grader's server: the pings were never sent, or went elsewhere."
            ),
            HintKind::PingerErrorHidden,
            "Nothing reached the grader's server, yet your client reported its pings as timed out. Either an `except:` that catches everything hides the error that stopped the send (catch only the timeout: `except timeout:`, and let other errors show), or the pings go to another address than the host and port on the command line (sys.argv[1] and sys.argv[2]).",
        );
    } else {
        fail(
            checked,
            "No ping reached the grader's server.".into(),
            HintKind::NothingArrived,
            "Nothing reached the grader's server. Send the pings with sendto to the host and port on the command line (sys.argv[1] and int(sys.argv[2])); 127.0.0.1 and 12000 by default.",
        );
    }
}

fn well_formed(timeline: &Timeline, pings: &[Ping], checked: &mut Checked) {
    let hint = "Send ten pings, one datagram each, as `Ping <sequence number> <time>`: the word Ping, the ping's number (1 to 10), and the time it was sent (time.time()), separated by single spaces: message = 'Ping %d %f' % (sequence, time.time()).";
    if let Some((index, ping)) = pings
        .iter()
        .enumerate()
        .find(|(_, ping)| ping.parsed.is_none())
    {
        let bytes = &timeline.heard[index].bytes;
        fail(
            checked,
            format!(
                "Ping {} is not `Ping <sequence number> <time>`.\n  received: {}",
                index + 1,
                shown(bytes)
            ),
            HintKind::PingerMalformedPing,
            hint,
        );
        let _ = ping;
        return;
    }
    if pings.len() != PINGS as usize {
        fail(
            checked,
            format!(
                "The grader's server received {} pings; the assignment sends {PINGS}.",
                pings.len()
            ),
            HintKind::PingerMalformedPing,
            hint,
        );
        return;
    }
    let numbers: Vec<u32> = pings.iter().filter_map(Ping::sequence).collect();
    let first = numbers[0];
    let in_order = (first == 0 || first == 1)
        && numbers
            .iter()
            .zip(first..)
            .all(|(number, wanted)| *number == wanted);
    if !in_order {
        fail(
            checked,
            format!(
                "The pings' sequence numbers are {:?}; they should count up by one from 1 (or 0).",
                numbers
            ),
            HintKind::PingerMalformedPing,
            hint,
        );
        return;
    }
    checked.notes.push(format!(
        "ten well-formed pings, numbered {first} to {}",
        first + PINGS - 1
    ));
}

/// The client's line for each ping, paired by position when it printed one
/// per ping.
fn paired<'p>(pings: &[Ping], printed: &'p Printed) -> Option<Vec<&'p Event>> {
    (printed.events.len() == pings.len()).then(|| printed.events.iter().collect())
}

/// Which ping's reply a reply line shows: the ping whose echo it contains
/// (the whole echo, time and all, so it holds without a sequence number),
/// else the one whose sequence number its echo shows.
fn shows(pings: &[Ping], event: &Event) -> Option<usize> {
    let Event::Reply { line, sequence, .. } = event else {
        return None;
    };
    let by_echo = pings
        .iter()
        .enumerate()
        .filter(|(_, ping)| ping.echo.len() >= 6 && line.contains(&ping.echo))
        .max_by_key(|(_, ping)| ping.echo.len())
        .map(|(index, _)| index);
    by_echo.or_else(|| {
        let shown = (*sequence)?;
        pings.iter().position(|ping| ping.sequence() == Some(shown))
    })
}

fn describe(expected: Expected) -> &'static str {
    match expected {
        Expected::Reply => "its reply",
        Expected::TimedOut => "`Request timed out`",
        Expected::Either => "its reply or `Request timed out`",
    }
}

fn replies(pings: &[Ping], printed: &Printed, checked: &mut Checked) {
    let hint = "Print one line per ping: the reply and its RTT when it came within a second, `Request timed out` when it did not (catch the timeout around recvfrom).";
    let plan: Vec<String> = pings
        .iter()
        .enumerate()
        .map(|(index, ping)| {
            let what = match (ping.fate, ping.expected()) {
                (Fate::Drop, _) => "dropped".to_string(),
                (Fate::Reply { .. } | Fate::Late { .. }, Expected::TimedOut) => format!(
                    "reply held {}, after the client had moved on",
                    ping.held().map_or("?".into(), ms)
                ),
                (Fate::Reply { .. } | Fate::Late { .. }, _) => {
                    format!("reply held {}", ping.held().map_or("?".into(), ms))
                }
            };
            format!("ping {}: {what}", index + 1)
        })
        .collect();
    checked.notes.push(format!("the plan: {}", plan.join("; ")));
    let Some(lines) = paired(pings, printed) else {
        fail(
            checked,
            format!(
                "Your client sent {} pings and printed {} reply or `Request timed out` lines.",
                pings.len(),
                printed.events.len()
            ),
            HintKind::PingerWrongLines,
            hint,
        );
        return;
    };
    let wrong: Vec<String> = pings
        .iter()
        .zip(&lines)
        .enumerate()
        .filter(|(_, (ping, event))| {
            !matches!(
                (ping.expected(), event),
                (Expected::Either, _)
                    | (Expected::Reply, Event::Reply { .. })
                    | (Expected::TimedOut, Event::TimedOut)
            )
        })
        .map(|(index, (ping, event))| {
            format!(
                "ping {}: expected {}, printed {}",
                index + 1,
                describe(ping.expected()),
                match event {
                    Event::TimedOut => "`Request timed out`".to_string(),
                    Event::Reply { line, .. } => shown(line.as_bytes()),
                }
            )
        })
        .collect();
    if !wrong.is_empty() {
        fail(
            checked,
            format!(
                "Your client's lines do not match what happened to its pings.\n  {}",
                wrong.join("\n  ")
            ),
            HintKind::PingerWrongLines,
            hint,
        );
    }
}

/// The pings whose line can be judged for its RTT: answered in time, printed
/// as a reply, showing this ping's number (or none).
fn answered_lines<'e>(pings: &[Ping], printed: &'e Printed) -> Vec<(usize, &'e Event)> {
    let Some(lines) = paired(pings, printed) else {
        return Vec::new();
    };
    pings
        .iter()
        .zip(lines)
        .enumerate()
        .filter(|(index, (ping, event))| {
            ping.expected() != Expected::TimedOut
                && match event {
                    Event::Reply { .. } => shows(pings, event).is_none_or(|shown| shown == *index),
                    Event::TimedOut => false,
                }
        })
        .map(|(index, (_, event))| (index, event))
        .collect()
}

fn rtt(pings: &[Ping], printed: &Printed, ended: Instant, checked: &mut Checked) {
    let mut wrong = Vec::new();
    let mut values = Vec::new();
    let mut missing = Vec::new();
    let mut thousandfold = true;
    for (index, event) in answered_lines(pings, printed) {
        let ping = &pings[index];
        let Event::Reply { rtt, line, .. } = event else {
            continue;
        };
        let held = ping.held().unwrap_or_default();
        let low = held.as_secs_f64() - RTT_BELOW.as_secs_f64();
        let until = ping.next.unwrap_or(ended);
        let high = until.saturating_duration_since(ping.at).as_secs_f64() + RTT_ABOVE.as_secs_f64();
        let Some(rtt) = rtt else {
            missing.push(format!("ping {}: {}", index + 1, shown(line.as_bytes())));
            continue;
        };
        let value = rtt.seconds;
        values.push(value);
        let error = value - held.as_secs_f64();
        checked.notes.push(format!(
            "ping {}: reply held {}, RTT printed {} (error {:+.1} ms; allowed {} to {})",
            index + 1,
            ms(held),
            seconds(value),
            error * 1000.0,
            seconds(low.max(0.0)),
            seconds(high)
        ));
        if !(low..=high).contains(&value) {
            wrong.push(format!(
                "ping {}: the reply was held {} by the grader, your client printed an RTT of {} (it must be between {} and {})",
                index + 1,
                ms(held),
                rtt.shown,
                seconds(low.max(0.0)),
                seconds(high)
            ));
            if !(low..=high).contains(&(value / 1000.0)) {
                thousandfold = false;
            }
        }
    }
    if !missing.is_empty() {
        fail(
            checked,
            format!(
                "Your client printed no RTT for answered pings.\n  {}",
                missing.join("\n  ")
            ),
            HintKind::PingerRttMissing,
            "Print each reply's round-trip time on its line: take time.time() just before sendto and again when recvfrom returns, and print the difference in seconds (RTT: 0.012345 s).",
        );
        return;
    }
    if wrong.is_empty() {
        return;
    }
    let message = format!(
        "Your client's RTTs are not the time the replies took.\n  {}",
        wrong.join("\n  ")
    );
    if values.iter().any(|value| *value < 0.0) {
        fail(
            checked,
            message,
            HintKind::PingerRttNegative,
            "An RTT below zero: subtract the time the ping was sent from the time its reply arrived (rtt = time.time() - sendTime), not the other way round.",
        );
    } else if values.iter().all(|value| value.fract() == 0.0) {
        fail(
            checked,
            message,
            HintKind::PingerRttIntegerClock,
            "Every RTT is a whole number of seconds (0 on a local network): the clock was cut to whole seconds (int(time.time()), or integer division). Subtract the float times time.time() returns and print the difference with decimals ('%.6f').",
        );
    } else if thousandfold {
        fail(
            checked,
            message,
            HintKind::PingerRttMilliseconds,
            "Your RTTs are a thousand times the time the replies took: they are in milliseconds but printed as seconds (or without a unit, which reads as seconds). Print seconds (rtt = time.time() - sendTime), or say `ms` after the number.",
        );
    } else {
        fail(
            checked,
            message,
            HintKind::PingerRttWrong,
            "Measure each RTT from just before sendto to the moment recvfrom returns that ping's reply, and print it in seconds: rtt = time.time() - sendTime.",
        );
    }
}

/// Whether the client waited before each next ping. A ping it printed as
/// timed out was waited for (how long is `one-second`'s). For a ping it
/// printed a reply to, the grader must by then have sent at least as many
/// replies as the client printed so far, whichever replies it took (a late
/// one taken for the next ping's is `late-reply`'s). Without one line per
/// ping, the reply to each ping must have left before the next ping came.
/// A reply's time is taken before it is sent, so no tolerance is needed.
fn pacing(pings: &[Ping], printed: &Printed, answered: &[super::Answered], checked: &mut Checked) {
    let lines = paired(pings, printed);
    let mut replies_printed = 0usize;
    let early: Vec<String> = pings
        .iter()
        .enumerate()
        .filter_map(|(index, ping)| {
            let next = ping.next?;
            let waited = match &lines {
                Some(lines) => match lines[index] {
                    Event::TimedOut => true,
                    Event::Reply { .. } => {
                        replies_printed += 1;
                        answered.iter().filter(|answer| answer.at <= next).count()
                            >= replies_printed
                    }
                },
                None => ping.replied.is_none_or(|replied| next >= replied || ping.late()),
            };
            (!waited).then(|| {
                format!(
                    "ping {} arrived {} after ping {}, whose reply the grader sent only {} after it",
                    index + 2,
                    ms(next.saturating_duration_since(ping.at)),
                    index + 1,
                    ms(ping.held().unwrap_or_default())
                )
            })
        })
        .collect();
    if !early.is_empty() {
        fail(
            checked,
            format!(
                "Your client sent pings without waiting for the reply to the one before.\n  {}",
                early.join("\n  ")
            ),
            HintKind::PingerNotPaced,
            "Send one ping, then wait for its reply (or its timeout) with recvfrom before sending the next: the pings go one after another, not all at once.",
        );
    }
}

fn one_second(pings: &[Ping], checked: &mut Checked) {
    // How long the client takes from a reply to its next ping, at least:
    // its own pace, which a client may choose (a pause between pings).
    let pause = pings
        .iter()
        .filter_map(|ping| {
            let (replied, next) = (ping.replied?, ping.next?);
            (next >= replied).then(|| next - replied)
        })
        .min()
        .unwrap_or_default();
    let waits: Vec<(usize, Duration)> = pings
        .iter()
        .enumerate()
        .filter(|(_, ping)| ping.fate == Fate::Drop)
        .filter_map(|(index, ping)| {
            let gap = ping.next?.saturating_duration_since(ping.at);
            Some((index, gap.saturating_sub(pause)))
        })
        .collect();
    checked.notes.push(format!(
        "waits for the lost pings: {} (the client's own pause between a reply and its next ping: {})",
        waits
            .iter()
            .map(|(index, wait)| format!("ping {}: {}", index + 1, ms(*wait)))
            .collect::<Vec<_>>()
            .join(", "),
        ms(pause)
    ));
    let wrong: Vec<String> = waits
        .iter()
        .filter(|(_, wait)| !(TIMEOUT_LOW..=TIMEOUT_HIGH).contains(wait))
        .map(|(index, wait)| {
            format!(
                "ping {} was lost; your client waited {} before the next ping",
                index + 1,
                ms(*wait)
            )
        })
        .collect();
    if !wrong.is_empty() {
        fail(
            checked,
            format!(
                "Your client does not wait about one second for a lost ping (from {} to {} is accepted).\n  {}",
                ms(TIMEOUT_LOW),
                ms(TIMEOUT_HIGH),
                wrong.join("\n  ")
            ),
            HintKind::PingerTimeoutNotOneSecond,
            "Wait one second for each reply, as the assignment says: clientSocket.settimeout(1) before recvfrom. Then ten pings take about ten seconds at most.",
        );
    }
}

fn late_reply(pings: &[Ping], printed: &Printed, checked: &mut Checked) {
    let hint = "A reply can arrive after its ping timed out, while you wait for the next one. Check the sequence number in each reply: if it is not the ping you are waiting for, skip it and keep waiting for what is left of that ping's second.";
    let Some(lines) = paired(pings, printed) else {
        return;
    };
    let taken: Vec<String> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, event)| {
            let shown = shows(pings, event)?;
            let Event::Reply { line, .. } = event else {
                return None;
            };
            (shown != index).then(|| {
                format!(
                    "the line for ping {} shows the reply to ping {}: {}",
                    index + 1,
                    shown + 1,
                    crate::diagnose::shown(line.as_bytes())
                )
            })
        })
        .collect();
    if !taken.is_empty() {
        fail(
            checked,
            format!(
                "Your client took a late reply for the next ping's.\n  {}",
                taken.join("\n  ")
            ),
            HintKind::PingerLateReplyTaken,
            hint,
        );
    }
}

fn one_socket(timeline: &Timeline, checked: &mut Checked) {
    let mut sources: Vec<std::net::SocketAddr> = Vec::new();
    for datagram in &timeline.heard {
        if !sources.contains(&datagram.from) {
            sources.push(datagram.from);
        }
    }
    if sources.len() > 1 {
        fail(
            checked,
            format!(
                "Your client's {} pings came from {} different sockets (ports {}).",
                timeline.heard.len(),
                sources.len(),
                sources
                    .iter()
                    .map(|source| source.port().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            HintKind::PingerSocketPerPing,
            "Create the socket once, before the loop, and send every ping from it (close it once, at the end): a new socket per ping, never closed, leaves one open file per ping.",
        );
    }
}

fn summary(pings: &[Ping], printed: &Printed, checked: &mut Checked) {
    let hint = "Compute the summary from the pings themselves: the lowest, mean and highest of the RTTs you printed, and the share of the pings sent that timed out (lost / sent * 100).";
    if printed.stats.is_none() && printed.loss.is_none() {
        checked
            .notes
            .push("no summary printed: nothing to check (the summary is optional)".into());
        return;
    }
    let rtts: Vec<f64> = printed
        .events
        .iter()
        .filter_map(|event| match event {
            Event::Reply { rtt: Some(rtt), .. } => Some(rtt.seconds),
            _ => None,
        })
        .collect();
    let mut wrong = Vec::new();
    if let (Some(stats), false) = (&printed.stats, rtts.is_empty()) {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = rtts.iter().sum::<f64>() / rtts.len() as f64;
        let close = |printed: Option<f64>, wanted: f64| {
            printed.is_none_or(|value| {
                (value - wanted).abs() <= (0.001f64).max(wanted.abs() * 0.02).max(stats.step)
            })
        };
        if !(close(stats.min, min) && close(stats.avg, mean) && close(stats.max, max)) {
            wrong.push(format!(
                "{} (your lines' RTTs give min {}, avg {}, max {})",
                shown(stats.line.as_bytes()),
                seconds(min),
                seconds(mean),
                seconds(max)
            ));
        }
    }
    if let Some(loss) = &printed.loss {
        let sent = pings.len().max(1) as f64;
        let lost = printed
            .events
            .iter()
            .filter(|event| matches!(event, Event::TimedOut))
            .count() as f64;
        let percent = 100.0 * lost / sent;
        let right = match loss.value {
            output::Loss::Percent(value) => (value - percent).abs() <= 1.0,
            output::Loss::Fraction(value) => (value * 100.0 - percent).abs() <= 1.0,
            output::Loss::Count(value) => value as f64 == lost,
        };
        if !right {
            wrong.push(format!(
                "{} ({lost} of {sent} pings timed out: {percent:.0}% loss)",
                shown(loss.line.as_bytes())
            ));
        }
    }
    if !wrong.is_empty() {
        fail(
            checked,
            format!(
                "Your client's summary does not agree with its pings.\n  {}",
                wrong.join("\n  ")
            ),
            HintKind::PingerSummaryWrong,
            hint,
        );
    }
}

#[cfg(test)]
mod tests;
