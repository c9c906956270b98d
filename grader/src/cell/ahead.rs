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

use super::{Cell, CellOptions, SpawnSpec};

/// A cell to open, what to do with it then, and where to send it.
type Request = (CellOptions, Then, Sender<std::io::Result<Cell>>);

/// What the opener does with a cell once it is open.
enum Then {
    Nothing,
    /// Opens its network and prepares the client, if given, to start in it.
    ServeClient(Option<SpawnSpec>),
}

/// A cell being opened on the opener thread.
pub struct CellAhead {
    reply: Receiver<std::io::Result<Cell>>,
}

impl CellAhead {
    /// Starts opening a cell with `options`; [`CellAhead::take`] waits for it.
    pub fn open(options: CellOptions) -> CellAhead {
        CellAhead::request(options, Then::Nothing)
    }

    /// Starts opening a cell with `options` for a client test: its network
    /// opened (see [`Cell::open_network`]) and `client`, if given, prepared
    /// to start (see [`Cell::prepare`]). The keeper's part of both (about a
    /// millisecond, and 1.5-2 ms of the client's set-up) then overlaps the
    /// test before as well.
    pub fn open_for_client(options: CellOptions, client: Option<SpawnSpec>) -> CellAhead {
        CellAhead::request(options, Then::ServeClient(client))
    }

    fn request(options: CellOptions, then: Then) -> CellAhead {
        let (sender, reply) = channel();
        if let Err(SendError((options, then, sender))) = opener().send((options, then, sender)) {
            // The opener thread could not be started: open it here, now.
            let _ = sender.send(open(&options, then));
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
                for (options, then, reply) in requests {
                    // A send to a grading that stopped waiting drops the cell.
                    let _ = reply.send(open(&options, then));
                }
            });
        sender
    })
}

/// Opens a cell and does `then`. A network the kernel refuses is left
/// closed, and a client that cannot be prepared is left to start as usual:
/// the test that takes the cell asks again and learns why.
fn open(options: &CellOptions, then: Then) -> std::io::Result<Cell> {
    let cell = Cell::open(options)?;
    if let Then::ServeClient(client) = then {
        let _ = cell.open_network();
        if let Some(client) = client {
            let _ = cell.prepare(&client);
        }
    }
    Ok(cell)
}
