//! One cell kept open for the next grading of a batch.
//!
//! A grading opens its first cell the moment it starts, but planning the
//! submission rarely takes as long as the 4–6 ms a keeper needs, so the first
//! test waits for the rest. When more gradings follow (a batch, the
//! benchmark), the one that takes its first cell asks for a spare, opened on
//! the opener thread while its own tests run, and the next grading starts
//! with a cell already open.
//!
//! A spare is a cell no program has run in, so taking one changes nothing a
//! submission could see: its groups count from zero, its keeper is idle. The
//! one thing a cell holds of its grading, the sandbox, is handed over when
//! the cell is taken: the spare was opened for a user leased with it, and
//! the grading that takes it runs its programs as that user.
//!
//! Spares exist only while a [`KeepWarm`] guard lives, so a single `grader
//! grade` never opens a cell nobody takes, and when the last guard goes the
//! spare left over is closed (its keeper stopped, its groups removed).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Cell, CellAhead, CellOptions, IsolationRequest, Sandbox};
use crate::limits::Limits;

/// What a cell is opened with, apart from the sandbox it is handed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    isolation: IsolationRequest,
    keeper: Option<PathBuf>,
    limits: Limits,
    label: Option<String>,
}

impl Key {
    fn of(options: &CellOptions) -> Key {
        Key {
            isolation: options.isolation,
            keeper: options.keeper.clone(),
            limits: options.limits.clone(),
            label: options.label.clone(),
        }
    }
}

/// The spare being opened (or open), with the sandbox it was opened for.
struct Spare {
    key: Key,
    sandbox: Sandbox,
    ahead: CellAhead,
}

struct Slot {
    /// How many [`KeepWarm`] guards live.
    keepers: usize,
    spare: Option<Spare>,
}

static SLOT: Mutex<Slot> = Mutex::new(Slot {
    keepers: 0,
    spare: None,
});

/// A panic elsewhere leaves the slot as consistent as it was.
fn slot() -> MutexGuard<'static, Slot> {
    SLOT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// While one lives, gradings leave a spare cell for the next.
pub struct KeepWarm(());

impl KeepWarm {
    pub fn start() -> KeepWarm {
        slot().keepers += 1;
        KeepWarm(())
    }
}

impl Drop for KeepWarm {
    fn drop(&mut self) {
        let left_over = {
            let mut slot = slot();
            slot.keepers -= 1;
            if slot.keepers == 0 {
                slot.spare.take()
            } else {
                None
            }
        };
        // Dropped outside the lock: it waits for the cell to finish opening.
        drop(left_over);
    }
}

/// A spare cell for a grading that opens sandboxed cells with `options`
/// (their sandbox aside), if one is kept, and the sandbox the grading must
/// use: its own scratch directory, and the user the spare was opened for.
pub(crate) fn take(options: &CellOptions, scratch: &Path) -> Option<(CellAhead, Sandbox)> {
    let mut slot = slot();
    if slot.spare.as_ref()?.key != Key::of(options) {
        return None;
    }
    let spare = slot.spare.take()?;
    Some((spare.ahead, spare.sandbox.moved_to(scratch)))
}

/// Starts opening a spare for the next grading like the one that opens
/// cells with `options`, when spares are kept and none is. Only sandboxed
/// cells (every grading's) are kept.
pub(crate) fn replenish(options: &CellOptions) {
    let mut slot = slot();
    if slot.keepers == 0 || slot.spare.is_some() || options.sandbox.is_none() {
        return;
    }
    let sandbox = Sandbox::unplaced();
    let ahead = CellAhead::open(CellOptions {
        sandbox: Some(sandbox.clone()),
        ..options.clone()
    });
    slot.spare = Some(Spare {
        key: Key::of(options),
        sandbox,
        ahead,
    });
}

impl Cell {
    /// Hands a cell the sandbox of the grading that took it (a spare's was
    /// only ever a user, with no scratch directory).
    pub(crate) fn adopt(&mut self, sandbox: Option<Sandbox>) {
        debug_assert_eq!(
            self.sandbox.as_ref().and_then(Sandbox::uid),
            sandbox.as_ref().and_then(Sandbox::uid),
            "a spare cell runs its programs as the user it was opened for"
        );
        self.sandbox = sandbox;
    }
}
