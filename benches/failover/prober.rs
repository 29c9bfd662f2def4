//! A fast ICMP prober: one thread with a raw ICMP socket made inside a
//! namespace (the LAN peer's), sending echo requests round-robin to many
//! IPs and recording, per IP, the first reply after it was armed.
//!
//! Each echo carries a magic word, the arming epoch it was sent in and the
//! target's index: a reply counts only when it answers an echo sent after
//! the arming, from the target it was sent to. Once a target has answered
//! it is not probed again, so the load falls as pods converge. Sends are
//! spread over the period in chunks of [`CHUNK`], the socket drained in
//! between, so that no burst overflows a queue of the simulated LAN.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use floatip::Netns;
use floatip_benches::harness::Stoppable;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Echoes sent back to back before the socket is drained.
pub const CHUNK: usize = 32;
const MAGIC: u32 = 0x6669_7066; // "fipf"

/// What a prober measured for one target, from the arming on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target {
    /// Echo requests sent to it from the arming until its first reply
    /// (all of them when it never answered).
    pub sent: u32,
    /// Its first reply, counted from the arming.
    pub first_reply: Option<Duration>,
}

/// A running prober.
pub struct Prober {
    // First: dropped, the thread is stopped and joined before the rest goes.
    thread: Stoppable<Vec<Target>>,
    replied: Arc<AtomicUsize>,
    arm_tx: mpsc::Sender<mpsc::Sender<Instant>>,
    n: usize,
}

impl Prober {
    /// Starts probing `targets` every `period` from a raw ICMP socket made
    /// inside `ns`, its echoes sent with IP TTL `ttl` and ICMP id `id`
    /// (distinct per prober of a namespace: a raw socket sees every ICMP
    /// packet that arrives). Until [`Prober::arm`] it probes every target
    /// and counts nothing (as a peer that keeps talking to the pods).
    ///
    /// With `ttl` 1 the echoes go no further than the first router: the
    /// node the peer's neighbour entry names drops them (and answers with
    /// a rate-limited time exceeded). Traffic that keeps the peer's
    /// entries in use, as a peer that talks to the pods, without making the
    /// node resolve the pod.
    pub fn start(ns: &Netns, targets: Vec<Ipv4Addr>, period: Duration, ttl: u32, id: u16) -> Result<Prober, String> {
        let sock = ns
            .run(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)))
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) in {}: {e}", ns.describe()))?;
        sock.set_read_timeout(Some(Duration::from_micros(500))).map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
        sock.set_ttl_v4(ttl).map_err(|e| format!("IP_TTL: {e}"))?;
        // Capped by the machine's net.core.rmem_max; the chunked sends keep
        // well under it.
        let _ = sock.set_recv_buffer_size(4 << 20);
        let replied = Arc::new(AtomicUsize::new(0));
        let (arm_tx, arm_rx) = mpsc::channel();
        let n = targets.len();
        let r = replied.clone();
        let thread = Stoppable::spawn("fip-prober", "prober", move |s| run(sock, id, targets, period, s, r, arm_rx))?;
        Ok(Prober { thread, replied, arm_tx, n })
    }

    /// Arms it: from the returned instant on, sends and first replies are
    /// counted, and answered targets are left alone. Returns once the
    /// prober thread has taken it (at the start of its next loop).
    pub fn arm(&self) -> Result<Instant, String> {
        let (tx, rx) = mpsc::channel();
        self.arm_tx.send(tx).map_err(|_| "the prober thread ended".to_string())?;
        rx.recv_timeout(Duration::from_secs(5)).map_err(|_| "the prober did not take the arming".to_string())
    }

    /// Targets that answered since the arming.
    pub fn replied(&self) -> usize {
        self.replied.load(Ordering::Relaxed)
    }

    /// Waits until every target answered since the arming at `t0`, or
    /// until `t0 + bound`, or until `give_up` says so; whether all did.
    pub fn wait_all(&self, t0: Instant, bound: Duration, give_up: impl Fn() -> bool) -> bool {
        loop {
            if self.replied() >= self.n {
                return true;
            }
            if t0.elapsed() >= bound || give_up() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops it; per target (in the order given), what it measured.
    pub fn stop(self) -> Result<Vec<Target>, String> {
        self.thread.stop()
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b.chunks(2).map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0))).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An echo request: type 8, code 0, id, seq, then magic, epoch, index.
fn echo(buf: &mut [u8; 20], id: u16, seq: u16, epoch: u32, index: u32) {
    buf.fill(0);
    buf[0] = 8;
    buf[4..6].copy_from_slice(&id.to_be_bytes());
    buf[6..8].copy_from_slice(&seq.to_be_bytes());
    buf[8..12].copy_from_slice(&MAGIC.to_be_bytes());
    buf[12..16].copy_from_slice(&epoch.to_be_bytes());
    buf[16..20].copy_from_slice(&index.to_be_bytes());
    let c = checksum(buf);
    buf[2..4].copy_from_slice(&c.to_be_bytes());
}

/// An echo reply of ours, as the raw socket hands it over (with its IPv4
/// header): (source, epoch, index).
fn parse_reply(p: &[u8], id: u16) -> Option<(Ipv4Addr, u32, u32)> {
    let ihl = usize::from(*p.first()? & 0x0f) * 4;
    let icmp = p.get(ihl..)?;
    if icmp.len() < 20 || icmp[0] != 0 || icmp[1] != 0 || icmp[4..6] != id.to_be_bytes() {
        return None;
    }
    let word = |i: usize| u32::from_be_bytes(icmp[i..i + 4].try_into().expect("4 bytes"));
    if word(8) != MAGIC {
        return None;
    }
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    Some((src, word(12), word(16)))
}

fn run(
    sock: Socket,
    id: u16,
    targets: Vec<Ipv4Addr>,
    period: Duration,
    stop: Arc<AtomicBool>,
    replied: Arc<AtomicUsize>,
    arm_rx: mpsc::Receiver<mpsc::Sender<Instant>>,
) -> Result<Vec<Target>, String> {
    let addrs: Vec<SockAddr> = targets.iter().map(|ip| SockAddr::from(SocketAddrV4::new(*ip, 0))).collect();
    let mut out = vec![Target::default(); targets.len()];
    let mut armed: Option<(Instant, u32)> = None;
    let mut epoch = 0u32;
    let mut seq = 0u16;
    let mut pkt = [0u8; 20];
    let mut rbuf = [0u8; 1500];
    // The current pass over the pending targets, and when its next chunk is due.
    let mut pass: Vec<usize> = Vec::new();
    let mut at = 0;
    let mut gap = period;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Ok(ack) = arm_rx.try_recv() {
            epoch += 1;
            let t0 = Instant::now();
            armed = Some((t0, epoch));
            out.iter_mut().for_each(|t| *t = Target::default());
            replied.store(0, Ordering::SeqCst);
            pass.clear();
            at = 0;
            next = t0;
            let _ = ack.send(t0);
        }
        let now = Instant::now();
        if now >= next {
            if at >= pass.len() {
                // A new pass: every target not answered yet, spread over
                // one period.
                pass = (0..targets.len()).filter(|&i| armed.is_none() || out[i].first_reply.is_none()).collect();
                at = 0;
                let chunks = pass.len().div_ceil(CHUNK).max(1) as u32;
                gap = period / chunks;
            }
            let end = (at + CHUNK).min(pass.len());
            for &i in &pass[at..end] {
                seq = seq.wrapping_add(1);
                echo(&mut pkt, id, seq, epoch, i as u32);
                match sock.send_to(&pkt, &addrs[i]) {
                    Ok(_) => {}
                    // The peer's neighbour queue for an unresolved IP is
                    // full, or the device queue: the echo is lost, as a
                    // real one would be.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EAGAIN)) => {}
                    // No route or a failed neighbour: lost too.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH)) => {}
                    Err(e) => return Err(format!("sendto {}: {e}", targets[i])),
                }
                if armed.is_some() {
                    out[i].sent += 1;
                }
            }
            at = end;
            next += gap;
            if next < now {
                // Behind (a loaded machine): do not burst to catch up.
                next = now + gap;
            }
        }
        match (&sock).read(&mut rbuf) {
            Ok(n) => {
                let Some((t0, ep)) = armed else { continue };
                let Some((src, e, i)) = parse_reply(&rbuf[..n], id) else { continue };
                let i = i as usize;
                if e == ep && i < targets.len() && targets[i] == src && out[i].first_reply.is_none() {
                    out[i].first_reply = Some(t0.elapsed());
                    replied.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_and_reply() {
        let mut p = [0u8; 20];
        echo(&mut p, 0x1234, 7, 3, 42);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        // The reply the pod sends back: type 0, behind a 20-byte IPv4 header.
        let mut r = vec![0x45u8; 20];
        r[12..16].copy_from_slice(&[10, 0, 1, 43]);
        r.extend_from_slice(&p);
        r[20] = 0;
        assert_eq!(parse_reply(&r, 0x1234), Some((Ipv4Addr::new(10, 0, 1, 43), 3, 42)));
        assert_eq!(parse_reply(&r, 0x1235), None, "another prober's");
        r[20] = 3;
        assert_eq!(parse_reply(&r, 0x1234), None, "not a reply");
    }
}
