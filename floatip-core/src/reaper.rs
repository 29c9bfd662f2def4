//! The reaper of a kept [`Host`](crate::Host): a thread that deletes the
//! host's tombstones (veths a detach retired, see
//! [`TOMBSTONE_GROUP`]) in batches, one `ip link del group` each.
//!
//! Why a thread: deleting a veth waits inside the kernel for RCU grace
//! periods (15-25 ms on this machine class), per request, not per veth. A
//! detach that deleted its veth itself would pay that on every pod; here a
//! detach retires the veth (down, routes, rules and proxy entries gone,
//! about half a millisecond) and the reaper deletes every tombstone there
//! is at once, [`REAP_DELAY`] after the first, or at once when
//! [`REAP_BATCH`] are waiting or [`Host::flush`](crate::Host::flush) asks.
//!
//! The same pass deletes the conntrack entries of the IPs those detaches
//! retired (routed mode, `conntrack_flush`), with one dump of the table for
//! the whole batch: each dump walks the kernel's whole conntrack hash (about
//! 12 ms here, see `docs/announce.md`), which a detach per pod would pay.

use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::conntrack;
use crate::error::{Error, Result};
use crate::floating::mark::TOMBSTONE_GROUP;
use crate::netlink::Handle;
use crate::netns::Netns;

/// How long the reaper lets tombstones gather after the first one. Long
/// enough that under churn a batch (which holds RTNL while the kernel
/// unregisters its veths, stalling any request that arrives meanwhile)
/// comes seldom: at 1 s, one request a second waits, not one per batch of
/// a few; a tombstone carries nothing, so its wait costs nothing else.
pub const REAP_DELAY: Duration = Duration::from_secs(1);

/// How many tombstones make the reaper go at once.
pub const REAP_BATCH: usize = 256;

/// The reaper thread and what it shares with the `Host`.
pub(crate) struct Reaper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Tombstones made since the last pass began.
    pending: usize,
    /// IPs whose conntrack entries detaches left for the next pass.
    conntrack: Vec<IpAddr>,
    /// When the first of them was made.
    since: Option<Instant>,
    /// Flushes asked for (a generation count), and the last one a
    /// finished pass served.
    asked: u64,
    served: u64,
    /// A pass is running now.
    busy: bool,
    stop: bool,
    /// The first failure since the last flush.
    error: Option<Error>,
    /// How long tombstones gather, and how many make a pass go at once.
    delay: Duration,
    batch: usize,
}

/// Deletes every tombstone of the host in one request; none is fine.
pub(crate) fn reap(handle: &Handle) -> Result<bool> {
    match handle.link_del_group(TOMBSTONE_GROUP) {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Reaper {
    /// Starts the thread with its own socket in the host namespace `ns`
    /// (and, on first need, a conntrack socket there). Its first pass runs
    /// at once: tombstones that a killed process left.
    pub(crate) fn start(handle: Handle, ns: Netns) -> Result<Reaper> {
        // The first pass is asked for at once, like a flush nobody waits for.
        let state = State { asked: 1, delay: REAP_DELAY, batch: REAP_BATCH, ..State::default() };
        let shared = Arc::new(Shared { state: Mutex::new(state), wake: Condvar::new() });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("floatip-reaper".into())
            .spawn(move || run(&s, &handle, &ns))
            .map_err(|e| Error::io("spawn the reaper thread", "floatip-reaper", e))?;
        Ok(Reaper { shared, thread: Some(thread) })
    }

    /// Sets how long tombstones gather after the first, and how many
    /// make a pass go at once (at least 1).
    pub(crate) fn set_pace(&self, delay: Duration, batch: usize) {
        let mut st = self.shared.lock();
        st.delay = delay;
        st.batch = batch.max(1);
        self.shared.wake.notify_all();
    }

    /// A detach left a tombstone.
    pub(crate) fn tombstoned(&self) {
        let mut st = self.shared.lock();
        st.pending += 1;
        st.since.get_or_insert_with(Instant::now);
        if st.pending == 1 || st.pending >= st.batch {
            self.shared.wake.notify_all();
        }
    }

    /// A detach left the conntrack entries of `ips` for the next pass.
    pub(crate) fn retired_ips(&self, ips: Vec<IpAddr>) {
        if ips.is_empty() {
            return;
        }
        let mut st = self.shared.lock();
        let first = st.pending == 0 && st.conntrack.is_empty();
        st.conntrack.extend(ips);
        st.since.get_or_insert_with(Instant::now);
        if first {
            self.shared.wake.notify_all();
        }
    }

    /// Waits until every tombstone made before the call is deleted (a pass
    /// that began after the call has ended), and returns the first failure
    /// of a pass since the last flush.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut st = self.shared.lock();
        st.asked += 1;
        let want = st.asked;
        self.shared.wake.notify_all();
        while st.served < want {
            st = self.shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        match st.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Reaper {
    /// A last pass for what is pending, then the thread ends: a `Host`
    /// dropped leaves no tombstone of its own behind.
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, handle: &Handle, ns: &Netns) {
    let ct = conntrack::Lazy::default();
    let mut st = shared.lock();
    loop {
        let now = Instant::now();
        let due_at = st.since.map(|t| t + st.delay);
        let work = st.pending > 0 || !st.conntrack.is_empty();
        let due =
            st.asked > st.served || (work && (st.stop || st.pending >= st.batch || due_at.is_some_and(|d| d <= now)));
        if due {
            let generation = st.asked;
            st.pending = 0;
            st.since = None;
            st.busy = true;
            let ips = std::mem::take(&mut st.conntrack);
            drop(st);
            let r = reap(handle);
            let flushed = match ips.is_empty() {
                true => Ok(0),
                false => crate::floating::flush_retired(handle, &ct, ns, &ips),
            };
            st = shared.lock();
            st.busy = false;
            st.served = st.served.max(generation);
            if let Err(e) = r {
                log::warn!(
                    "reaper: deleting tombstones (group {TOMBSTONE_GROUP}) failed: {err}",
                    err = crate::error::Report(&e)
                );
                st.error.get_or_insert(e);
            }
            match flushed {
                Ok(n) => log::debug!("reaper: deleted {n} conntrack entries of {} retired IPs", ips.len()),
                Err(e) => {
                    log::warn!(
                        "reaper: deleting the conntrack entries of retired IPs failed: {err}",
                        err = crate::error::Report(&e)
                    );
                    st.error.get_or_insert(e);
                }
            }
            shared.wake.notify_all();
            continue;
        }
        if st.stop {
            shared.wake.notify_all();
            return;
        }
        st = match due_at {
            Some(d) => {
                shared.wake.wait_timeout(st, d.saturating_duration_since(now)).unwrap_or_else(PoisonError::into_inner).0
            }
            None => shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
        };
    }
}
