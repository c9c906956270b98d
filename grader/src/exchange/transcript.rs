//! One recorder for everything a test's transcript holds: the grader's
//! sockets, the grader-played peer (on its own thread) and the notes about
//! the student's programs, each entry stamped from the test's start.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::outcome::{TranscriptEntry, TranscriptEvent, push_stream_bytes};

/// A test's transcript; clones share it (the peer thread holds one).
#[derive(Clone)]
pub struct Transcript {
    started: Instant,
    entries: Arc<Mutex<Vec<TranscriptEntry>>>,
}

impl Transcript {
    pub fn new(started: Instant) -> Transcript {
        Transcript {
            started,
            entries: Arc::default(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<TranscriptEntry>> {
        // A peer thread that panicked left whole entries; keep them.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn record(&self, channel: &str, event: TranscriptEvent) {
        let at = self.started.elapsed();
        self.entries().push(TranscriptEntry {
            at,
            channel: channel.to_string(),
            event,
        });
    }

    pub fn note(&self, channel: &str, text: impl Into<String>) {
        self.record(channel, TranscriptEvent::Note(text.into()));
    }

    /// Bytes read from a stream join the bytes received just before them on
    /// the same channel: how a stream was cut into reads means nothing.
    pub fn stream_bytes(&self, channel: &str, bytes: &[u8]) {
        let at = self.started.elapsed();
        push_stream_bytes(&mut self.entries(), at, channel, bytes);
    }

    pub fn into_entries(self) -> Vec<TranscriptEntry> {
        self.entries().clone()
    }
}

/// A note from the grader in a test's transcript, placed before the rest.
pub fn grader_note(text: impl Into<String>) -> TranscriptEntry {
    TranscriptEntry {
        at: Duration::ZERO,
        channel: "grader".into(),
        event: TranscriptEvent::Note(text.into()),
    }
}

/// Everything the grader sent in a test, in order.
pub fn sent_bytes(transcript: &[TranscriptEntry]) -> Vec<u8> {
    transcript
        .iter()
        .filter_map(|entry| match &entry.event {
            TranscriptEvent::Sent(bytes) => Some(bytes.as_slice()),
            TranscriptEvent::Received(_) | TranscriptEvent::Note(_) => None,
        })
        .flatten()
        .copied()
        .collect()
}
