//! Single flight: concurrent identical requests share one extraction.
//!
//! Not a cache: the key is forgotten once its result is in, so a later request runs again
//! (the capture may have grown).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Requests in flight, by key.
pub struct Flights<T> {
    map: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Flights<T> {
    /// The result of `run` for `key`: run here, or awaited from the request already running
    /// it. The second value is true when the result came from another request. If the
    /// request running it is cancelled, a waiting one runs it instead.
    pub async fn run<F, Fut>(&self, key: String, run: F) -> (T, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let mut ran = false;
        let v = cell
            .get_or_init(|| {
                ran = true;
                run()
            })
            .await
            .clone();
        if ran {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                map.remove(&key);
            }
        }
        (v, !ran)
    }
}

/// One streamed extraction's chunks handed to every request that shares it (single flight
/// for `/api/v1/pcap` without an archive).
///
/// Requests may join until the extraction sends its first byte (a result smaller than
/// [`crate::stream::PREFIX`] is sent whole at its end, so everyone asking while it runs
/// shares it); a request arriving later runs an extraction of its own, because the bytes
/// already sent are not kept. Each sharer has a bounded channel of [`crate::stream::DEPTH`]
/// chunks, and every chunk goes to each sharer in turn: memory is bounded (depth × chunk ×
/// sharers) and the sharers go at the pace of the slowest of them; a sharer that goes away
/// is dropped and the others carry on; when all are gone the search stops.
pub struct Fanout<M> {
    subs: Mutex<Subs<M>>,
}

struct Subs<M> {
    /// False once the first message was sent: no one may join after.
    open: bool,
    list: Vec<tokio::sync::mpsc::Sender<M>>,
}

impl<M: Clone> Fanout<M> {
    /// A fan-out to `first`, open to more sharers.
    pub fn new(first: tokio::sync::mpsc::Sender<M>) -> Fanout<M> {
        Fanout {
            subs: Mutex::new(Subs {
                open: true,
                list: vec![first],
            }),
        }
    }

    /// Adds a sharer; false when joining is closed.
    pub fn join(&self, tx: tokio::sync::mpsc::Sender<M>) -> bool {
        let mut s = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        if s.open {
            s.list.push(tx);
        }
        s.open
    }

    /// Sends `m` to every sharer (blocking while one's channel is full), closing joining
    /// first. False when no sharer is left (every client went away). Not for async code.
    pub fn blocking_send(&self, m: M) -> bool {
        let list = {
            let mut s = self.subs.lock().unwrap_or_else(|p| p.into_inner());
            s.open = false;
            s.list.clone()
        };
        let gone: Vec<_> = list
            .into_iter()
            .filter(|tx| tx.blocking_send(m.clone()).is_err())
            .collect();
        let mut s = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        s.list.retain(|tx| !gone.iter().any(|g| g.same_channel(tx)));
        !s.list.is_empty()
    }

    /// Closes joining and lets every sharer go (their channels end): when the extraction is
    /// over, or its thread died.
    pub fn end(&self) {
        let mut s = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        s.open = false;
        s.list.clear();
    }

    /// How many requests share this extraction now.
    pub fn sharers(&self) -> usize {
        self.subs.lock().map(|s| s.list.len()).unwrap_or(0)
    }
}

/// Streamed extractions in flight, by key: the [`Fanout`] of each, while it may be joined.
pub struct Streams<M> {
    map: Mutex<HashMap<String, Arc<Fanout<M>>>>,
}

impl<M> Default for Streams<M> {
    fn default() -> Self {
        Streams {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<M: Clone> Streams<M> {
    /// Joins the extraction of `key` in flight with `tx` (`None`: joined), or registers a new
    /// fan-out to `tx` for the caller to run (`Some`).
    pub fn join_or_lead(
        &self,
        key: &str,
        tx: tokio::sync::mpsc::Sender<M>,
    ) -> Option<Arc<Fanout<M>>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = map.get(key) {
            if f.join(tx.clone()) {
                return None;
            }
        }
        let f = Arc::new(Fanout::new(tx));
        map.insert(key.to_string(), f.clone());
        Some(f)
    }

    /// Forgets `fan` under `key` (when it is still the one registered).
    pub fn done(&self, key: &str, fan: &Arc<Fanout<M>>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, fan)) {
            map.remove(key);
        }
    }
}
