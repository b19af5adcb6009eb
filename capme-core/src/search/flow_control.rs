//! Flow control between a chain's scan threads and its consumer: the byte [`Budget`] of
//! matches read ahead, the search-wide [`Permits`] (files read at once), and [`FileTx`], one
//! file's sending end that uses both.

use super::matcher::Verdict;
use super::scan::{Event, Segment};
use crate::packet::Packet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The bytes of matched packets that one chain's workers may have sent and the consumer not
/// yet taken, shared by the chain's files.
///
/// The file the consumer is reading (the oldest unfinished one) never waits, so the consumer
/// can always make progress; files read ahead wait once the chain's matches in flight exceed
/// the limit. This bounds memory by bytes, not by files: files with few matches (most of them)
/// can be read far ahead while the merge waits on another chain.
pub(crate) struct Budget {
    limit: usize,
    /// (bytes in flight, sequence number of the file the consumer reads)
    state: Mutex<(usize, u64)>,
    cv: Condvar,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
        }
    }

    /// Takes `n` bytes for file `seq`; `false` when `stop` was set while waiting. `on_wait`
    /// runs once before the first wait (the caller gives up its scan permit there).
    fn acquire(&self, n: usize, seq: u64, stop: &AtomicBool, on_wait: impl FnOnce()) -> bool {
        let Ok(mut g) = self.state.lock() else {
            return false;
        };
        let mut on_wait = Some(on_wait);
        while g.0 > 0 && g.0 + n > self.limit && g.1 != seq {
            if let Some(f) = on_wait.take() {
                f();
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            g = match self.cv.wait_timeout(g, Duration::from_millis(50)) {
                Ok((g, _)) => g,
                Err(_) => return false,
            };
        }
        g.0 += n;
        true
    }

    /// Gives back `n` bytes the consumer took.
    pub fn release(&self, n: usize) {
        if let Ok(mut g) = self.state.lock() {
            g.0 = g.0.saturating_sub(n);
        }
        self.cv.notify_all();
    }

    /// The consumer now reads file `seq`.
    pub fn advance(&self, seq: u64) {
        if let Ok(mut g) = self.state.lock() {
            g.1 = seq;
        }
        self.cv.notify_all();
    }

    /// Wakes every waiter (to see a stop flag).
    pub fn wake(&self) {
        self.cv.notify_all();
    }
}

/// The search's bound on files scanned at once (`--threads`), shared by all its chains.
///
/// A chain may have more workers than permits (at least one per chain), but only as many
/// files as there are permits are read at a time. A worker waiting for room in its chain's
/// [`Budget`] gives its permit back while it waits, so permits are only held by workers that
/// make progress and the file the consumer needs always gets one eventually.
pub(crate) struct Permits {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Permits {
    pub fn new(n: usize) -> Arc<Permits> {
        Arc::new(Permits {
            free: Mutex::new(n.max(1)),
            cv: Condvar::new(),
        })
    }

    /// Waits for a permit; `None` when `stop` was set while waiting.
    pub fn acquire(self: &Arc<Self>, stop: &AtomicBool) -> Option<Permit> {
        let mut g = self.free.lock().ok()?;
        while *g == 0 {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            g = self.cv.wait_timeout(g, Duration::from_millis(50)).ok()?.0;
        }
        *g -= 1;
        Some(Permit(self.clone()))
    }

    /// Wakes every waiter (to see a stop flag).
    pub fn wake(&self) {
        self.cv.notify_all();
    }
}

/// A held permit; dropping it gives it back.
pub(crate) struct Permit(Arc<Permits>);

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.free.lock() {
            *g += 1;
        }
        self.0.cv.notify_one();
    }
}

/// What a queued packet holds besides its bytes (the `Packet` and its verdict).
const PACKET_COST: usize = std::mem::size_of::<(Packet, Verdict)>();

/// What a file scanned ahead holds until the consumer reaches it, besides its packets: its
/// event channel and its entry in the chain's channel of segment channels (a channel block is
/// 31 slots).
const FILE_COST: usize =
    32 * (std::mem::size_of::<Event>() + std::mem::size_of::<Segment>() + 16) + 1024;

/// The memory an event holds while queued, as counted in the chain's [`Budget`]: for a batch,
/// its packets' bytes and structs; for a file's end, what a finished file keeps queued. So the
/// budget bounds memory by files read ahead too, not only by matched bytes: 20,000 small files
/// with a packet each once took 150 MB of queued channels.
pub(super) fn cost(event: &Event) -> usize {
    match event {
        Event::Packets(p) => p.iter().map(|(p, _)| p.data.len() + PACKET_COST).sum(),
        Event::Done(_) => FILE_COST,
        Event::Lead(_) | Event::Failed(_) => 0,
    }
}

/// Where one file's events go: its own channel, with matched bytes counted in the chain's
/// [`Budget`]; it holds the scan's permit.
pub(crate) struct FileTx {
    pub tx: Sender<Event>,
    pub budget: Arc<Budget>,
    pub seq: u64,
    pub permits: Arc<Permits>,
    pub permit: std::cell::RefCell<Option<Permit>>,
}

impl FileTx {
    /// Sends an event; `false` when the chain is gone (or stopped while waiting for room).
    pub(super) fn send(&self, event: Event, stop: &AtomicBool) -> bool {
        let n = cost(&event);
        if n > 0 {
            let mut waited = false;
            let ok = self.budget.acquire(n, self.seq, stop, || {
                waited = true;
                self.permit.borrow_mut().take(); // back to the pool while waiting
            });
            if !ok {
                return false;
            }
            if waited {
                match self.permits.acquire(stop) {
                    Some(p) => *self.permit.borrow_mut() = Some(p),
                    None => return false,
                }
            }
        }
        self.tx.send(event).is_ok()
    }
}
