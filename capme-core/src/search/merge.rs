//! [`Search`]: the k-way merge of the chains' streams into one in timestamp order.

use super::flow_control::{Budget, Permits};
use super::*;
use crate::error::Result;
use crate::packet::Packet;
use crate::query::Query;
use crate::store::Plan;
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// The merged, time-ordered stream of a query's matched packets.
///
/// An iterator of `Result<Packet>`; after an `Err` it yields `None`.
pub struct Search {
    chains: Vec<ChainScan>,
    heads: BinaryHeap<Reverse<(Timestamp, usize, u64)>>,
    slots: Vec<Option<Packet>>,
    started: bool,
    failed: bool,
    seq: u64,
    plan_warnings: Vec<String>,
}

impl Search {
    /// A search over a plan, one thread per chain.
    pub fn new(plan: Plan, query: &Query) -> Search {
        Self::with_options(
            plan,
            query,
            &ScanOptions {
                threads: 1,
                ..Default::default()
            },
        )
    }

    /// A search over a plan reading at most `opts.threads` files (or segments of a file) at
    /// once: each chain has up to `ceil(threads / chains)` worker threads, at least one, which
    /// take its files and the segments its files are cut into; they share `threads` permits
    /// to read.
    pub fn with_options(plan: Plan, query: &Query, opts: &ScanOptions) -> Search {
        // Each chain gets its share of the threads, as workers and as the parts its files may
        // be cut into: cutting a file pays only when the chain has cores of its own to spare
        // (with as many chains as threads, the chains already keep every core busy, and
        // segments only add probes and threads: measured ~10 % slower per pivot).
        let per_chain = opts.threads.max(1).div_ceil(plan.chains.len().max(1));
        // Every chain has a worker (so none waits on another's files), but only `threads`
        // files of the whole search are read at once.
        let permits = Permits::new(opts.threads.max(1));
        let ahead = (SEARCH_AHEAD_BYTES / plan.chains.len().max(1)).max(CHAIN_AHEAD_MIN_BYTES);
        let chains: Vec<ChainScan> = plan
            .chains
            .into_iter()
            .map(|c| {
                let mut chain = ChainScan::with_options(c, query, opts, per_chain);
                chain.permits = permits.clone();
                chain.budget = Arc::new(Budget::new(ahead));
                chain
            })
            .collect();
        let n = chains.len();
        Search {
            chains,
            heads: BinaryHeap::new(),
            slots: (0..n).map(|_| None).collect(),
            started: false,
            failed: false,
            seq: 0,
            plan_warnings: plan.warnings,
        }
    }

    /// Counters of all chains so far.
    pub fn stats(&self) -> SearchStats {
        let mut s = SearchStats {
            warnings: self.plan_warnings.clone(),
            ..Default::default()
        };
        for c in &self.chains {
            let cs = c.stats();
            s.files_scanned += cs.files_scanned;
            s.files_indexed += cs.files_indexed;
            s.bytes_read += cs.bytes_read;
            s.warnings.extend(cs.warnings.iter().cloned());
            s.matched_key = s.matched_key.or(cs.matched_key);
            s.files_unreadable += cs.files_unreadable;
            if s.first_unreadable.is_none() {
                s.first_unreadable = cs.first_unreadable.clone();
            }
        }
        s
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        if let Some(p) = self.chains[i].next_packet()? {
            self.heads.push(Reverse((p.ts, i, self.seq)));
            self.seq += 1;
            self.slots[i] = Some(p);
        }
        Ok(())
    }

    fn next_inner(&mut self) -> Result<Option<Packet>> {
        if !self.started {
            self.started = true;
            // Every chain reads from the start, whichever the merge asks first.
            for c in &mut self.chains {
                c.start()?;
            }
            for i in 0..self.chains.len() {
                self.refill(i)?;
            }
        }
        let Some(Reverse((_, i, _))) = self.heads.pop() else {
            return Ok(None);
        };
        let p = self.slots[i].take().expect("a head has a slot");
        self.refill(i)?;
        Ok(Some(p))
    }
}

impl Iterator for Search {
    type Item = Result<Packet>;

    fn next(&mut self) -> Option<Result<Packet>> {
        if self.failed {
            return None;
        }
        match self.next_inner() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
