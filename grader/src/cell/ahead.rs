//! Cells opened ahead of need, while the test before them runs.
//!
//! Most of a cell's cost is waiting on the kernel, not work: a keeper must
//! be forked into new namespaces, exec and set them up (4–6 ms). A grading
//! that knows it will need another cell (its next client test, its first
//! program) asks for it early, and the wait overlaps the test that runs
//! meanwhile.
//!
//! The cells are opened on one long-lived thread, never on a thread made
//! for the occasion: a keeper is started with `PR_SET_PDEATHSIG`, which the
//! kernel ties to the *thread* that forked it, so a keeper forked by a thread
//! that then ended would be killed at once.

use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SendError, Sender, channel};

use super::{Cell, CellOptions};

/// A cell to open, whether to open its network too, and where to send it.
type Request = (CellOptions, bool, Sender<std::io::Result<Cell>>);

/// A cell being opened on the opener thread.
pub struct CellAhead {
    reply: Receiver<std::io::Result<Cell>>,
}

impl CellAhead {
    /// Starts opening a cell with `options`; [`CellAhead::take`] waits for it.
    pub fn open(options: CellOptions) -> CellAhead {
        CellAhead::request(options, false)
    }

    /// Starts opening a cell with `options` and its network (see
    /// [`Cell::open_network`]), for a client test: opening the network
    /// takes the keeper about a millisecond, which then overlaps the test
    /// before as well.
    pub fn open_networked(options: CellOptions) -> CellAhead {
        CellAhead::request(options, true)
    }

    fn request(options: CellOptions, network: bool) -> CellAhead {
        let (sender, reply) = channel();
        if let Err(SendError((options, network, sender))) =
            opener().send((options, network, sender))
        {
            // The opener thread could not be started: open it here, now.
            let _ = sender.send(open(&options, network));
        }
        CellAhead { reply }
    }

    /// The cell, once it is open (or why it could not be).
    pub fn take(self) -> std::io::Result<Cell> {
        self.reply
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("the cell opener stopped")))
    }
}

impl Drop for CellAhead {
    /// A cell not taken is waited for and dropped here, so that nothing of
    /// a grading is still being set up after it returns.
    fn drop(&mut self) {
        while self.reply.recv().is_ok() {}
    }
}

/// The opener thread's queue, started on first use; it lives as long as
/// the process. A cell nobody takes any more is dropped there, which stops
/// its keeper and removes its groups.
fn opener() -> &'static Sender<Request> {
    static OPENER: OnceLock<Sender<Request>> = OnceLock::new();
    OPENER.get_or_init(|| {
        let (sender, requests) = channel::<Request>();
        // Should the thread not start, `requests` goes with the closure:
        // every send fails, and each cell is opened where it is asked for.
        let _ = std::thread::Builder::new()
            .name("cell-opener".into())
            .spawn(move || {
                for (options, network, reply) in requests {
                    // A send to a grading that stopped waiting drops the cell.
                    let _ = reply.send(open(&options, network));
                }
            });
        sender
    })
}

/// Opens a cell, and its network when asked to. A network the kernel
/// refuses is left closed: the test that takes the cell asks again and
/// learns why.
fn open(options: &CellOptions, network: bool) -> std::io::Result<Cell> {
    let cell = Cell::open(options)?;
    if network {
        let _ = cell.open_network();
    }
    Ok(cell)
}
