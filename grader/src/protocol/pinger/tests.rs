use super::output::{self, Event, Loss};

#[test]
fn a_handouts_lines_read_as_pings_and_a_summary() {
    let printed = output::read(
        b"Reply from 127.0.0.1: PING 1 1733097600.123456  RTT: 0.000030 s\n\
          Request timed out.\n\
          request timed out\n\
          PING 4 1733097603.0 rtt = 12.5 ms\n\
          Reply: PING 5 1733097604.0\n\
          RTT: 0.25\n\
          10 packets transmitted, 7 received, 30% packet loss\n\
          rtt min/avg/max = 0.000030/0.100000/0.250000 s\n",
    );
    assert_eq!(printed.events.len(), 5);
    assert_eq!(printed.events[1], Event::TimedOut);
    assert_eq!(printed.events[2], Event::TimedOut);
    let Event::Reply { sequence, rtt, .. } = &printed.events[3] else {
        panic!("{:?}", printed.events[3]);
    };
    assert_eq!(*sequence, Some(4));
    assert!((rtt.as_ref().unwrap().seconds - 0.0125).abs() < 1e-9);
    let Event::Reply { rtt, .. } = &printed.events[4] else {
        panic!();
    };
    assert!((rtt.as_ref().unwrap().seconds - 0.25).abs() < 1e-9);
    assert_eq!(printed.loss.unwrap().value, Loss::Percent(30.0));
    let stats = printed.stats.unwrap();
    assert_eq!(stats.min, Some(0.00003));
    assert_eq!(stats.avg, Some(0.1));
    assert_eq!(stats.max, Some(0.25));
}

#[test]
fn an_echo_without_a_sequence_number_shows_none() {
    let printed = output::read(b"Reply from 127.0.0.1: PING 1796173864.680382  RTT: 0.001 s\n");
    let Event::Reply { sequence, .. } = &printed.events[0] else {
        panic!();
    };
    assert_eq!(*sequence, None);
}

#[test]
fn summaries_on_lines_of_their_own_are_read_by_label() {
    let printed = output::read(
        b"Minimum RTT: 1.5 ms\nMaximum RTT: 3 ms\nAverage RTT: 2.25 ms\nPacket loss rate: 0.3\n",
    );
    let stats = printed.stats.unwrap();
    let close = |value: Option<f64>, wanted: f64| (value.unwrap() - wanted).abs() < 1e-12;
    assert!(close(stats.min, 0.0015), "{stats:?}");
    assert!(close(stats.max, 0.003), "{stats:?}");
    assert!(close(stats.avg, 0.00225), "{stats:?}");
    assert_eq!(printed.loss.unwrap().value, Loss::Fraction(0.3));
    assert!(printed.events.is_empty());
}
