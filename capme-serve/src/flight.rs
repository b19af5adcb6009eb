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
