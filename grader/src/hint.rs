//! A failed test's hint, and which diagnosis it comes from.
//!
//! The hint's text is written for the student and may change from one
//! version of the grader to the next; its [`HintKind`] is a stable id, so a
//! class report can count how many submissions met the same mistake, and a
//! result file keeps saying which mistake it was. Every place that writes a
//! hint names its kind; a new diagnosis adds a variant here (ids are never
//! renamed or reused: results written earlier keep meaning what they meant).

use serde::{Deserialize, Serialize};

/// A hint and the diagnosis it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    pub kind: HintKind,
    pub text: String,
}

impl Hint {
    pub fn new(kind: HintKind, text: impl Into<String>) -> Hint {
        Hint {
            kind,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

macro_rules! hint_kinds {
    ($($(#[$doc:meta])* $variant:ident = $id:literal, $label:literal;)*) => {
        /// Which diagnosis a hint comes from. Serialised as its id
        /// (`snake_case`, e.g. `echo`), in results and gradebooks.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum HintKind {
            $($(#[$doc])* #[serde(rename = $id)] $variant,)*
        }

        impl HintKind {
            /// Every kind, in the order of this list.
            pub const ALL: &[HintKind] = &[$(HintKind::$variant,)*];

            /// The stable id, as serialised.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(HintKind::$variant => $id,)*
                }
            }

            /// What went wrong, in a few words, for an instructor reading a
            /// class report.
            pub fn label(self) -> &'static str {
                match self {
                    $(HintKind::$variant => $label,)*
                }
            }
        }
    };
}

hint_kinds! {
    /// No sharper pattern fitted: the hint is the lab author's, for the test.
    LabHint = "lab_hint", "the test's own hint (no sharper diagnosis)";

    // What a reply looked like (diagnose::reply).
    PartialLine = "partial_line", "answered part of a line before it was complete";
    Echo = "echo", "sent back what it received";
    AsciiOnlyUppercase = "ascii_only_uppercase", "uppercased only ASCII letters";
    CutAt1024 = "cut_at_1024", "reply cut at 1024 bytes (recv buffer too small)";
    NoLineEnding = "no_line_ending", "reply line without its '\\n'";
    LinesUnanswered = "lines_unanswered", "answered some lines, then nothing";
    IncompleteReply = "incomplete_reply", "sent only the start of the reply";
    ExtraLineEnding = "extra_line_ending", "extra line ending after the reply";
    WrongCase = "wrong_case", "right letters, wrong case";
    CapitalSMissed = "capital_s_missed", "count misses capital S";
    CountInWords = "count_in_words", "count wrapped in other text";
    ReplyFromOtherSocket = "reply_from_other_socket", "replied from another socket";
    BytesAfterReply = "bytes_after_reply", "sent more bytes after the reply";
    ConnectionLeftOpen = "connection_left_open", "left the connection open after replying";

    // What a program's stderr showed (diagnose::stderr_hint).
    Stub = "stub", "still the stub (todo!())";
    Panic = "panic", "panicked";
    Python2 = "python2", "Python 2 code";
    AddressInUse = "address_in_use", "port already in use (no SO_REUSEADDR)";
    UnicodeDecode = "unicode_decode", "stopped on bytes that are not UTF-8";
    ConnectionReset = "connection_reset", "stopped when a peer reset the connection";
    SentInt = "sent_int", "sent a number instead of bytes";
    SentStr = "sent_str", "sent a str instead of bytes";
    ClosedSocket = "closed_socket", "used a socket after closing it";
    MissingModule = "missing_module", "imports a module that is not installed";
    SyntaxError = "syntax_error", "Python syntax error";

    // How a program ended (diagnose::exited).
    OverLimit = "over_limit", "killed for going over a limit";
    ServerEnded = "server_ended", "server ended by itself (no serving loop)";
    Exited = "exited", "program stopped on an error";

    // What a server listened on (diagnose::wrong_port).
    WrongTransport = "wrong_transport", "TCP instead of UDP, or the reverse";
    WrongPort = "wrong_port", "listens on the wrong port";
    NeverListened = "never_listened", "never started listening";
    CannotStart = "cannot_start", "command could not be started";

    // What a client did (exchange/client.rs).
    NothingArrived = "nothing_arrived", "client sent nothing to the grader's server";
    ClientWaitsForever = "client_waits_forever", "client waits forever without a timeout";
    ClientSentNoLine = "client_sent_no_line", "client sent no complete line";
    ClientKeptRunning = "client_kept_running", "client kept running after the exchange";
    ClientPrintedSent = "client_printed_sent", "client printed what it sent, not the reply";
    ClientFirstReplyOnly = "client_first_reply_only", "client printed only the first reply";
    ClientSentNewline = "client_sent_newline", "client sent the trailing newline";
    ClientSentOther = "client_sent_other", "client sent something other than its input";
    ClientFailedAtEnd = "client_failed_at_end", "client did not end normally";
    ClientExitZeroOnError = "client_exit_zero_on_error", "client exits 0 when the server is silent";
    ClientCrashed = "client_crashed", "client crashed instead of reporting the error";

    // Programs that never ran (ending::NeverRan).
    NeverRan = "never_ran", "program never ran (syntax error, bad command, JVM could not start)";
    MissingTool = "missing_tool", "a tool is missing on the grading machine";

    // Added for fair verdicts: what a reply or a program showed.
    BufferPadding = "buffer_padding", "sent the whole receive buffer (trailing zero bytes)";
    LastCharacter = "last_character", "last character left alone (off by one)";
    NoHtons = "no_htons", "port bound without htons()";
    SplitCharacter = "split_character", "decoded a line before it was complete";
    HostLookup = "host_lookup", "could not look up the host name";
    Unreachable = "unreachable", "tried to reach an address off this machine";
    MissingArguments = "missing_arguments", "reads command-line arguments it was not given";
    ReadPastInput = "read_past_input", "read standard input after it ended (EOFError)";

    // What an HTTP response showed (protocol::http).
    HttpNoResponse = "http_no_response", "closed the connection without an HTTP response";
    HttpBlankLineFirst = "http_blank_line_first", "blank line before the status line";
    HttpLeadingSpace = "http_leading_space", "space before the status line";
    HttpNoStatusLine = "http_no_status_line", "response without a status line";
    HttpLfWithoutCr = "http_lf_without_cr", "head lines end in LF without CR";
    HttpNoBlankLine = "http_no_blank_line", "no blank line after the head";
    HttpSyntax = "http_syntax", "status line or header not valid HTTP";
    HttpBodyCutShort = "http_body_cut_short", "sent only part of the file";
    HttpLengthInCharacters = "http_length_in_characters", "Content-Length counts characters, not bytes";
    HttpNotFoundForExisting = "http_not_found_for_existing", "404 for a file that exists (leading '/' kept)";
    HttpOkForMissing = "http_ok_for_missing", "200 for a file that does not exist";
    HttpServedOutsideRoot = "http_served_outside_root", "served a file outside its folder ('..')";
    HttpBinaryCorrupted = "http_binary_corrupted", "file sent in text mode (bytes changed)";
    HttpWrongBody = "http_wrong_body", "body is not the requested file";

    // What an SMTP client did (protocol::smtp).
    SmtpSpokeBeforeGreeting = "smtp_spoke_before_greeting", "spoke before the server's 220 greeting";
    SmtpSpokeBeforeReply = "smtp_spoke_before_reply", "sent a command before the reply to the last one";
    SmtpMultiLineReply = "smtp_multi_line_reply", "took the first line of a 250- reply for the whole reply";
    SmtpBareLf = "smtp_bare_lf", "SMTP lines ended in LF without CR";
    SmtpAngleBrackets = "smtp_angle_brackets", "address without angle brackets (501)";
    SmtpBadSequence = "smtp_bad_sequence", "SMTP commands out of order (503)";
    SmtpUnknownCommand = "smtp_unknown_command", "command the server does not know (500)";
    SmtpMessageNotEnded = "smtp_message_not_ended", "message never ended by CRLF.CRLF";
    SmtpDialogueUnfinished = "smtp_dialogue_unfinished", "SMTP dialogue stopped before the mail was delivered";
    SmtpNoQuit = "smtp_no_quit", "never sent QUIT";
    SmtpIgnoredRefusal = "smtp_ignored_refusal", "went on after a 550 as if accepted";
    SmtpMailLibrary = "smtp_mail_library", "used a mail library (smtplib) instead of a socket";
    SmtpTls = "smtp_tls", "spoke TLS to a plain SMTP server";

    // What a caching proxy did (protocol::proxy).
    ProxyCutShort = "proxy_cut_short", "proxy sent only the start of the origin's response";
    ProxySentTwice = "proxy_sent_twice", "proxy sent the response twice";
    ProxyTextMode = "proxy_text_mode", "proxy cache in text mode (line endings rewritten)";
    ProxyWrongHost = "proxy_wrong_host", "proxy asked the origin for another host";
    ProxyRequestForm = "proxy_request_form", "proxy refused a request form (/host/path or http://host/path)";
    ProxyOriginError = "proxy_origin_error", "proxy answered an error although the origin was up";
    ProxyKeptOpen = "proxy_kept_open", "proxy kept the connection open after the response";
    ProxyUnbufferedMakefile = "proxy_unbuffered_makefile", "Python 2 makefile('r', 0) (unbuffered text)";
    TimeClock = "time_clock", "time.clock(), removed in Python 3.8";
    PingerWaitsForever = "pinger_waits_forever", "pinger waits forever for a lost ping (no timeout)";
    PingerErrorHidden = "pinger_error_hidden", "every ping reported timed out, none sent (a catch-all except, or another address)";
    PingerMalformedPing = "pinger_malformed_ping", "pings not `Ping <seq> <time>` in order";
    PingerWrongLines = "pinger_wrong_lines", "replies and timeouts not the ones that happened";
    PingerRttMissing = "pinger_rtt_missing", "no RTT printed for an answered ping";
    PingerRttMilliseconds = "pinger_rtt_milliseconds", "RTT in milliseconds labelled or read as seconds";
    PingerRttIntegerClock = "pinger_rtt_integer_clock", "RTT from a clock in whole seconds (always 0)";
    PingerRttNegative = "pinger_rtt_negative", "negative RTT (send time minus receive time)";
    PingerRttWrong = "pinger_rtt_wrong", "RTT not the time the reply took";
    PingerNotPaced = "pinger_not_paced", "next ping sent before the reply or the timeout";
    PingerTimeoutNotOneSecond = "pinger_timeout_not_one_second", "waits other than one second for a lost ping";
    PingerLateReplyTaken = "pinger_late_reply_taken", "a late reply taken as the next ping's";
    PingerSocketPerPing = "pinger_socket_per_ping", "a new socket for every ping";
    PingerSummaryWrong = "pinger_summary_wrong", "min/avg/max or loss rate not what the pings gave";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_serialise_as_themselves() {
        let mut ids: Vec<&str> = HintKind::ALL.iter().map(|kind| kind.as_str()).collect();
        ids.sort_unstable();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "a hint kind id is used twice");
        for kind in HintKind::ALL {
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<HintKind>(&json).unwrap(), *kind);
        }
    }
}
