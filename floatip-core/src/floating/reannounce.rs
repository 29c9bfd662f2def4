//! Periodic re-announce: [`Host::reannounce`](crate::Host::reannounce).
//!
//! Why: an attach announces its IPs a few times and stops. On a network
//! whose switches age out their forwarding entries (FDB) before the
//! neighbours' ARP entries expire, or whose neighbours were pointed
//! elsewhere by a stale announcement of a node that came back, traffic for
//! a floating IP can go astray long after the move. MetalLB's users ask for
//! a periodic announcement for this reason. A re-announcer sends one round
//! (gratuitous ARP, unsolicited NA) for every IP attached here, every
//! period.
//!
//! Only attachments that are *complete* here are announced (every object
//! of theirs is in place: [`AttachmentState::Complete`]), never a partial
//! one, a tombstone or an orphan; and each under its attachment's lock,
//! after its veth was read again, so that an IP that a detach is taking
//! away is never announced from here (that is how split brain starts).
//! Bridge-mode attachments are not announced: their pods are on the LAN's
//! layer 2 and their own traffic refreshes the switches.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{AttachmentState, OwnerMark, Site, TOMBSTONE_GROUP};
use crate::announce::AnnounceOptions;
use crate::error::{Error, Result};
use crate::lock::{Kind, Lock, Stripe};

/// Attachments locked at once in a pass: each lock is an open file.
const CHUNK: usize = 256;

/// What a re-announcer did, returned by [`Reannouncer::stop`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReannounceReport {
    /// Passes made (one at start, then one per period).
    pub passes: u64,
    /// IP announcements sent, over all passes (one IP once per pass).
    pub announced: u64,
    /// Frames sent.
    pub frames: u64,
    /// Attachments skipped because an attach or detach of theirs was
    /// running (their lock was held): the next pass takes them.
    pub busy: u64,
    /// Passes that failed (logged; the next pass tries again).
    pub failed: u64,
}

/// A running re-announcer: a thread with a [`Host`](crate::Host) of its
/// own. Stop it with [`Reannouncer::stop`]; dropping it stops it too.
#[derive(Debug)]
pub struct Reannouncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<ReannounceReport>>,
}

impl Reannouncer {
    pub(crate) fn start<F>(every: Duration, mut pass: F) -> Result<Reannouncer>
    where
        F: FnMut(&mut ReannounceReport) -> Result<()> + Send + 'static,
    {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("floatip-reannounce".into())
            .spawn(move || {
                let mut report = ReannounceReport::default();
                let (lock, wake) = &*flag;
                loop {
                    if let Err(e) = pass(&mut report) {
                        log::warn!("re-announce pass failed: {err}", err = crate::error::Report(&e));
                        report.failed += 1;
                    }
                    report.passes += 1;
                    let stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    let (stopped, _) =
                        wake.wait_timeout_while(stopped, every, |s| !*s).unwrap_or_else(PoisonError::into_inner);
                    if *stopped {
                        return report;
                    }
                }
            })
            .map_err(|e| Error::io("spawn the re-announce thread", "floatip-reannounce", e))?;
        Ok(Reannouncer { stop, thread: Some(thread) })
    }

    /// Stops it (at once: it waits on a condition, not a sleep) and returns
    /// what it did.
    pub fn stop(mut self) -> ReannounceReport {
        self.finish()
    }

    fn finish(&mut self) -> ReannounceReport {
        *self.stop.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.1.notify_all();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => ReannounceReport::default(),
        }
    }
}

impl Drop for Reannouncer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish();
        }
    }
}

impl Site<'_> {
    /// One pass: one round for the IPs of every complete routed-mode
    /// attachment, per LAN interface.
    pub(crate) fn reannounce_pass(
        &self,
        protocol: u8,
        opts: &AnnounceOptions,
        report: &mut ReannounceReport,
    ) -> Result<()> {
        let listed = self.list(protocol)?;
        let complete: Vec<_> =
            listed.iter().filter(|a| a.state == AttachmentState::Complete && a.lan.is_some()).collect();
        for chunk in complete.chunks(CHUNK) {
            let mut held = Vec::with_capacity(chunk.len());
            let mut by_lan: HashMap<&str, Vec<IpAddr>> = HashMap::new();
            for a in chunk {
                let (Some(id), Some((_, index, _)), Some(lan)) = (&a.attachment_id, &a.host_veth, &a.lan) else {
                    continue;
                };
                let Some(lock) = Lock::try_acquire(Stripe::of(Kind::Attachment, id))? else {
                    report.busy += 1;
                    continue;
                };
                // Still this attachment's veth, up and not retired, now
                // that no attach or detach of it can run.
                let still = match self.host.link_get_index(*index) {
                    Ok(l) => {
                        l.up && l.group != TOMBSTONE_GROUP
                            && l.alias.as_deref().and_then(OwnerMark::parse).is_some_and(|m| &m.attachment_id == id)
                    }
                    Err(e) if e.is_not_found() => false,
                    Err(e) => return Err(e),
                };
                if still {
                    by_lan.entry(lan.as_str()).or_default().extend(a.ips.iter().copied());
                    held.push(lock);
                }
            }
            for (lan, ips) in by_lan {
                let link = match self.host.link_get(lan) {
                    Ok(l) => l,
                    Err(e) if e.is_not_found() => continue, // gone meanwhile: reconcile's business
                    Err(e) => return Err(e),
                };
                let Some(mac) = opts.mac.or(link.mac) else { continue };
                report.frames += self.senders.send_round(self.host_ns, link.index, &link.name, mac, &ips, opts)?;
                report.announced += ips.len() as u64;
            }
            drop(held);
        }
        Ok(())
    }
}
