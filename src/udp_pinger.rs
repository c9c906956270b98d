//! The `udp-pinger` lab: chapter 2's socket assignment "UDP Pinger".
//!
//! The client sends ten pings over UDP, `Ping <sequence number> <time>`, one
//! after another; for each it waits at most one second for the server's
//! reply and prints it with the round-trip time (RTT), or `Request timed
//! out`. UDP may lose datagrams, so the assignment's server loses some on
//! purpose: it uppercases what it receives and drops about three in ten.
//!
//! Read this file beside the assignment's `UDPPingerServer.py`, which is
//! given, and the `UDPPingerClient.py` students write. What a server does
//! with each ping (drop it, or answer after a delay) is a pure function of a
//! seed, [`LossPlan::fate`], so the grader can play the same server and know
//! exactly which replies a correct client must report.

use std::io::{self, ErrorKind, Write};
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::client_setup;

/// The assignment's port.
pub const DEFAULT_PORT: u16 = 12000;

/// How many pings the client sends.
pub const PINGS: u32 = 10;

/// How long the client waits for each reply: the assignment's one second.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// The assignment's server drops a ping when `random.randint(0, 10) < 4`:
/// four chances in eleven.
pub const HANDOUT_LOSS: f64 = 4.0 / 11.0;

/// The ping a client sends: `Ping 3 1733097600.123456`, the time in seconds
/// since 1970 as the assignment's `time.time()` prints it.
pub fn ping_message(sequence: u32, sent_at: SystemTime) -> String {
    let seconds = sent_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    format!("Ping {sequence} {seconds:.6}")
}

/// Reads a ping back: its sequence number and the rest of it (the time, as
/// sent). Accepts any capitalisation of `Ping`, since the server uppercases.
pub fn parse_ping(datagram: &[u8]) -> Option<(u32, String)> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut words = text.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("ping") {
        return None;
    }
    let sequence = words.next()?.parse().ok()?;
    let rest: Vec<&str> = words.collect();
    Some((sequence, rest.join(" ")))
}

/// What the server does with one ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The ping is lost: no reply.
    Drop,
    /// The reply is sent after `delay`.
    Reply { delay: Duration },
    /// The reply is held past the client's one-second wait: it is sent when
    /// the next ping arrives (the client has given up on this one by then),
    /// or after `at_most` if none comes. A client that takes it for the next
    /// ping's reply shows it at once.
    Late { at_most: Duration },
}

/// Which pings a server drops and how long it holds the others, drawn from a
/// seed so that a run can be repeated exactly.
#[derive(Clone, Copy, Debug)]
pub struct LossPlan {
    pub seed: u64,
    /// The share of pings dropped, from 0 to 1.
    pub loss: f64,
    /// The longest delay a reply may get.
    pub max_delay: Duration,
}

impl LossPlan {
    /// The fate of the `index`-th ping this server receives (from 0).
    pub fn fate(&self, index: u64) -> Fate {
        let draw = splitmix64(self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // The top 53 bits make a uniform number in [0, 1).
        let uniform = (draw >> 11) as f64 / (1u64 << 53) as f64;
        if uniform < self.loss {
            return Fate::Drop;
        }
        let max_micros = self.max_delay.as_micros() as u64;
        let delay = if max_micros == 0 {
            0
        } else {
            splitmix64(draw) % (max_micros + 1)
        };
        Fate::Reply {
            delay: Duration::from_micros(delay),
        }
    }
}

/// The longest the grader's server holds the one late reply of
/// [`graded_plan`] when no next ping comes to release it.
pub const LATE_DELAY: Duration = Duration::from_millis(1300);

/// The delays, in milliseconds, of the answered pings of [`graded_plan`]:
/// always these seven, in an order drawn from the seed.
pub const GRADED_DELAYS_MS: [u64; 7] = [10, 40, 70, 100, 130, 160, 200];

/// How many pings [`graded_plan`] drops.
pub const GRADED_DROPS: usize = 2;

/// The plan the grader plays the server by: ten fates with the same kinds
/// of events whatever the seed, so that a score never depends on it. Two
/// pings are dropped, one reply is late ([`Fate::Late`]: after both drops
/// and before the last ping, so a ping always follows it and no loss
/// follows it), and the seven others are answered after the delays of
/// [`GRADED_DELAYS_MS`]. Only the positions and the order of the delays
/// vary with the seed.
pub fn graded_plan(seed: u64) -> Vec<Fate> {
    let mut state = seed;
    let mut next = |below: u64| {
        state = splitmix64(state);
        state % below
    };
    let pings = PINGS as usize;
    // The late ping: at index 2 to 8, so both drops fit before it.
    let late = GRADED_DROPS + next((pings - 1 - GRADED_DROPS) as u64) as usize;
    let first = next(late as u64) as usize;
    let second = {
        let other = next(late as u64 - 1) as usize;
        if other >= first { other + 1 } else { other }
    };
    let mut delays = GRADED_DELAYS_MS.to_vec();
    for at in (1..delays.len()).rev() {
        delays.swap(at, next(at as u64 + 1) as usize);
    }
    let mut delays = delays.into_iter();
    (0..pings)
        .map(|index| {
            if index == first || index == second {
                Fate::Drop
            } else if index == late {
                Fate::Late {
                    at_most: LATE_DELAY,
                }
            } else {
                Fate::Reply {
                    delay: Duration::from_millis(delays.next().unwrap_or(0)),
                }
            }
        })
        .collect()
}

/// A small, well-known mixing function: good enough to turn a seed and a
/// counter into unrelated-looking numbers, and the same on every machine.
fn splitmix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// The assignment's server: uppercases every ping and sends it back, except
/// the ones `plan` drops. Delayed replies go out from a thread of their own,
/// so one held reply does not hold up the next ping.
pub fn serve(socket: UdpSocket, plan: LossPlan) -> io::Result<()> {
    eprintln!(
        "udp-pinger server listening on {} (losing {:.0}% of pings, seed {})",
        socket.local_addr()?,
        plan.loss * 100.0,
        plan.seed
    );
    let mut buffer = [0u8; 1024];
    for index in 0u64.. {
        // `message, address = serverSocket.recvfrom(1024)`.
        let (length, client) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error) => {
                eprintln!("udp-pinger server: receiving failed ({error}); still serving");
                continue;
            }
        };
        // `message = message.upper()`.
        let reply = buffer[..length].to_ascii_uppercase();
        match plan.fate(index) {
            // `if rand < 4: continue`: the ping is lost.
            Fate::Drop => continue,
            Fate::Reply { delay } if delay.is_zero() => {
                // `serverSocket.sendto(message, address)`.
                let _ = socket.send_to(&reply, client);
            }
            // This server does not wait for the next ping: it holds a late
            // reply for its longest delay.
            Fate::Reply { delay } | Fate::Late { at_most: delay } => {
                let socket = socket.try_clone()?;
                thread::spawn(move || {
                    thread::sleep(delay);
                    let _ = socket.send_to(&reply, client);
                });
            }
        }
    }
    Ok(())
}

/// Round-trip times of the answered pings, for the summary line.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub sent: u32,
    pub rtts: Vec<Duration>,
}

impl Summary {
    /// The summary as the assignment's optional exercise prints it.
    pub fn describe(&self) -> String {
        let lost = self.sent - self.rtts.len() as u32;
        let loss = if self.sent == 0 {
            0.0
        } else {
            100.0 * f64::from(lost) / f64::from(self.sent)
        };
        let mut line = format!(
            "{} packets transmitted, {} received, {loss:.0}% packet loss",
            self.sent,
            self.rtts.len()
        );
        if let (Some(min), Some(max)) = (self.rtts.iter().min(), self.rtts.iter().max()) {
            let average = self.rtts.iter().sum::<Duration>() / self.rtts.len() as u32;
            line.push_str(&format!(
                "\nrtt min/avg/max = {:.6}/{:.6}/{:.6} s",
                min.as_secs_f64(),
                average.as_secs_f64(),
                max.as_secs_f64()
            ));
        }
        line
    }
}

/// The client: `count` pings to `host:port`, each waiting at most `timeout`.
pub fn run_client(
    host: &str,
    port: u16,
    count: u32,
    timeout: Duration,
    output: &mut dyn Write,
) -> io::Result<()> {
    let server = client_setup::server_address(host, port)?;
    // `clientSocket = socket(AF_INET, SOCK_DGRAM)`, bound to any free port.
    let socket = UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    let mut summary = Summary::default();
    let mut buffer = [0u8; 1024];
    for sequence in 1..=count {
        let sent_at = Instant::now();
        let message = ping_message(sequence, SystemTime::now());
        socket.send_to(message.as_bytes(), server)?;
        summary.sent += 1;

        // Wait for *this* ping's reply. A reply that arrives late, after its
        // own ping timed out, carries an older sequence number: it is not the
        // answer to this ping, so it is skipped, and the wait goes on for
        // what is left of this ping's second.
        let deadline = sent_at + timeout;
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            socket.set_read_timeout(Some(left))?;
            match socket.recv_from(&mut buffer) {
                Ok((length, from)) if from == server => {
                    let reply = &buffer[..length];
                    if parse_ping(reply).is_some_and(|(number, _)| number == sequence) {
                        break Some((reply.to_vec(), sent_at.elapsed()));
                    }
                }
                // From someone else, or an older reply: not ours.
                Ok(_) => {}
                Err(error) if client_setup::is_timeout(&error) => break None,
                // An ICMP "port unreachable" from an earlier ping: nobody
                // listens there. Report it as this ping's loss.
                Err(error) if error.kind() == ErrorKind::ConnectionRefused => break None,
                Err(error) => return Err(error),
            }
        };
        match answer {
            Some((reply, rtt)) => {
                writeln!(
                    output,
                    "Reply from {server}: {}  RTT: {:.6} s",
                    String::from_utf8_lossy(&reply),
                    rtt.as_secs_f64()
                )?;
                summary.rtts.push(rtt);
            }
            None => writeln!(output, "Request timed out")?,
        }
        output.flush()?;
    }
    writeln!(output, "{}", summary.describe())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_reads_back_whatever_its_capitals() {
        let ping = ping_message(7, UNIX_EPOCH + Duration::from_millis(1_500));
        assert_eq!(ping, "Ping 7 1.500000");
        assert_eq!(
            parse_ping(ping.to_uppercase().as_bytes()),
            Some((7, "1.500000".into()))
        );
        assert_eq!(parse_ping(b"Pong 7 1"), None);
        assert_eq!(parse_ping(b"Ping x 1"), None);
    }

    #[test]
    fn a_plan_is_the_same_for_a_seed_and_loses_about_its_share() {
        let plan = LossPlan {
            seed: 42,
            loss: 0.3,
            max_delay: Duration::from_millis(200),
        };
        let fates: Vec<Fate> = (0..1000).map(|index| plan.fate(index)).collect();
        assert_eq!(
            fates,
            (0..1000).map(|index| plan.fate(index)).collect::<Vec<_>>()
        );
        let dropped = fates.iter().filter(|fate| **fate == Fate::Drop).count();
        assert!((250..350).contains(&dropped), "dropped {dropped} of 1000");
        assert!(fates.iter().all(|fate| match fate {
            Fate::Drop => true,
            Fate::Reply { delay } => *delay <= plan.max_delay,
            Fate::Late { .. } => false,
        }));
        let other = LossPlan { seed: 43, ..plan };
        assert_ne!(
            fates,
            (0..1000).map(|index| other.fate(index)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_graded_plan_has_the_same_events_in_other_places() {
        let mut places = std::collections::HashSet::new();
        for seed in 0..2000 {
            let plan = graded_plan(seed);
            assert_eq!(plan.len(), PINGS as usize);
            let drops: Vec<usize> = (0..plan.len())
                .filter(|&at| plan[at] == Fate::Drop)
                .collect();
            let late: Vec<usize> = (0..plan.len())
                .filter(|&at| matches!(plan[at], Fate::Late { .. }))
                .collect();
            assert_eq!(drops.len(), GRADED_DROPS, "seed {seed}");
            assert_eq!(late.len(), 1, "seed {seed}");
            assert!(drops.iter().all(|&drop| drop < late[0]), "seed {seed}");
            assert!(late[0] < plan.len() - 1, "seed {seed}");
            let mut delays: Vec<u64> = plan
                .iter()
                .filter_map(|fate| match fate {
                    Fate::Reply { delay } => Some(delay.as_millis() as u64),
                    _ => None,
                })
                .collect();
            delays.sort_unstable();
            assert_eq!(delays, GRADED_DELAYS_MS, "seed {seed}");
            places.insert((drops, late));
        }
        // Every place the rules allow is drawn by some seed.
        let allowed: usize = (2..=8).map(|late: usize| late * (late - 1) / 2).sum();
        assert_eq!(places.len(), allowed);
    }

    #[test]
    fn the_summary_counts_losses() {
        let summary = Summary {
            sent: 4,
            rtts: vec![Duration::from_millis(1), Duration::from_millis(3)],
        };
        assert_eq!(
            summary.describe(),
            "4 packets transmitted, 2 received, 50% packet loss\nrtt min/avg/max = 0.001000/0.002000/0.003000 s"
        );
    }
}
