//! Synchronous rtnetlink transport: one socket per network namespace.
//!
//! A [`Handle`] owns one `NETLINK_ROUTE` socket created inside a namespace.
//! It numbers requests, waits for the kernel's ack or reply with a read
//! timeout, collects multipart dumps up to `NLMSG_DONE` (retrying a dump the
//! kernel marked `NLM_F_DUMP_INTR`), and turns a kernel refusal into an
//! [`Error::Netlink`] that keeps the errno and the extended-ack text.
//!
//! Messages are built and parsed by `netlink-packet-route`; the only bytes
//! parsed here by hand are the extended-ack TLVs, which
//! `netlink-packet-core` leaves raw (see `ext_ack_message`). The transport
//! itself (`Conn`) is the same for any netlink protocol: the conntrack
//! handle ([`crate::conntrack`]) runs `NETLINK_NETFILTER` over it.

use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
    NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTIPART, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// How long a request waits for the kernel before [`Error::Timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a dump interrupted by a concurrent change is retried.
const DUMP_RETRIES: usize = 8;

/// Receive buffer. The kernel caps one dump datagram at 32 KiB
/// (`netlink_dump()` in `net/netlink/af_netlink.c` bounds `max_recvmsg_len`
/// by `SKB_WITH_OVERHEAD(32768)`), and the unicast replies floatip asks for
/// (links without VF info or statistics, errors with `NETLINK_CAP_ACK`) are
/// far smaller, so 64 KiB never truncates. `MSG_TRUNC` still reports the
/// real size, and a larger datagram is a clear error rather than a misparse.
const RX_BUF: usize = 64 * 1024;

/// Socket receive queue: large enough that a burst of dump datagrams never
/// overflows into `ENOBUFS`.
const SO_RCVBUF_BYTES: usize = 1024 * 1024;

// Extended-ack attributes, <linux/netlink.h>.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;

/// One rtnetlink socket bound to the namespace it was opened in. Requests
/// from several threads are serialised; a `Handle` is `Send + Sync`.
///
/// ```no_run
/// use floatip::{Handle, Netns};
/// # fn main() -> floatip::Result<()> {
/// let pod = Netns::open("pod1")?;
/// let h = Handle::in_netns(&pod)?;      // like `ip -n pod1 ...`
/// let lo = h.link_get("lo")?;
/// assert_eq!(lo.index, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Handle {
    conn: Mutex<Conn>,
    netns: String,
}

/// One netlink socket and its request state: what [`Handle`] (rtnetlink)
/// and [`Conntrack`](crate::conntrack::Conntrack) (ctnetlink) each hold
/// under a lock.
#[derive(Debug)]
pub(crate) struct Conn {
    sock: Socket,
    port: u32,
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
    timeout: Duration,
}

/// Receive buffers of dropped connections, for the next ones. A pod's
/// handle lives for one attach, and a fresh 64 KiB buffer per attach cost
/// more than some of its requests: glibc's `malloc` consolidates its free
/// lists on every allocation and every free of that size
/// (`malloc_consolidate()`, tens of µs a pod in `perf`).
static SPARE_RX: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// How many spare buffers are kept at most (256 KiB).
const SPARE_RX_MAX: usize = 4;

fn rx_buffer() -> Vec<u8> {
    let spare = SPARE_RX.lock().ok().and_then(|mut v| v.pop());
    spare.unwrap_or_else(|| Vec::with_capacity(RX_BUF))
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut rx = std::mem::take(&mut self.rx);
        if rx.capacity() == RX_BUF {
            rx.clear();
            if let Ok(mut v) = SPARE_RX.lock() {
                if v.len() < SPARE_RX_MAX {
                    v.push(rx);
                }
            }
        }
    }
}

/// What kind of answer a request expects.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Ack,
    Reply,
    Dump,
}

impl Handle {
    /// A handle for the calling thread's current namespace.
    pub fn new() -> Result<Handle> {
        Self::open_here("current netns".into())
    }

    /// A handle whose socket lives in `netns`. The calling thread enters
    /// the namespace only for the `socket()` call.
    pub fn in_netns(netns: &Netns) -> Result<Handle> {
        Self::in_netns_from(netns, None)
    }

    /// [`Handle::in_netns`], returning the thread to `home` (see
    /// [`Netns::enter_from`]).
    pub(crate) fn in_netns_from(netns: &Netns, home: Option<&Netns>) -> Result<Handle> {
        let _inside = netns.enter_from(home)?;
        Self::open_here(netns.describe())
    }

    pub(crate) fn open_here(netns: String) -> Result<Handle> {
        let conn = Conn::open(NETLINK_ROUTE, "socket(NETLINK_ROUTE)", &netns)?;
        Ok(Handle { conn: Mutex::new(conn), netns })
    }

    /// Sets how long each request waits for the kernel (`SO_RCVTIMEO`).
    pub fn set_timeout(&self, timeout: Duration) -> Result<()> {
        self.lock().set_timeout(timeout, &self.netns)
    }

    /// The namespace this handle talks to, for messages.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Conn> {
        // A panic while holding the lock cannot leave the socket in a state
        // later requests would misread: stale replies are skipped by
        // sequence number.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and waits for
    /// the ack.
    pub(crate) fn ack(
        &self,
        op: &'static str,
        object: impl Fn() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<()> {
        self.exchange(op, &object, msg, NLM_F_ACK | flags, Expect::Ack).map(drop)
    }

    /// Sends a get request and returns the single reply.
    pub(crate) fn get(
        &self,
        op: &'static str,
        object: impl Fn() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<RouteNetlinkMessage> {
        self.get_raw(op, object, msg)?.parse(op)
    }

    /// Sends a get request and returns the single reply unparsed, for
    /// callers that read only a few attributes of a large message.
    pub(crate) fn get_raw(
        &self,
        op: &'static str,
        object: impl Fn() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Reply> {
        let mut v = self.exchange(op, &object, msg, 0, Expect::Reply)?;
        v.pop().ok_or_else(|| Error::Protocol { op, detail: "no reply message".into() })
    }

    /// Sends a dump request and returns every message of the dump.
    pub(crate) fn dump(
        &self,
        op: &'static str,
        object: impl Fn() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.exchange(op, &object, msg, NLM_F_DUMP, Expect::Dump)?.into_iter().map(|r| r.parse(op)).collect()
    }

    /// Sends a dump request and returns every message unparsed.
    pub(crate) fn dump_raw(
        &self,
        op: &'static str,
        object: impl Fn() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<Reply>> {
        self.exchange(op, &object, msg, NLM_F_DUMP, Expect::Dump)
    }

    fn exchange(
        &self,
        op: &'static str,
        object: &dyn Fn() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
        expect: Expect,
    ) -> Result<Vec<Reply>> {
        self.lock().exchange(op, object, msg, flags, expect)
    }
}

#[cfg(feature = "cni")]
impl Handle {
    /// Sends `msg` as a request from a forked child, which outlives this
    /// process's exit, and returns at once without its answer: for a
    /// short-lived process (the CNI plugin) that leaves the kernel a slow
    /// request (a batch delete waits for RCU grace periods) it does not
    /// need to see finish. Falls back to sending it here if `fork` fails.
    pub(crate) fn send_in_child(self, op: &'static str, msg: RouteNetlinkMessage) -> Result<()> {
        let conn = self.conn.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        header.sequence_number = conn.seq.wrapping_add(1).max(1);
        let mut req = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        req.finalize();
        let mut buf = vec![0; req.buffer_len()];
        req.serialize(&mut buf[..]);
        let fd = std::os::fd::AsFd::as_fd(&conn.sock)
            .try_clone_to_owned()
            .map_err(|e| Error::io(op, self.netns.clone(), e))?;
        drop(conn);
        crate::sys::send_in_child(fd, &buf).map_err(|e| Error::io(op, self.netns, e))
    }
}

/// A netlink handle that lives in one namespace and can be opened there:
/// from a thread inside it, or by a visit that returns to `home`.
pub(crate) trait OpenIn: Sized {
    /// Opens it in the calling thread's namespace (`netns` names it in
    /// messages).
    fn open_here(netns: String) -> Result<Self>;
    /// Opens it in `netns`, the calling thread visiting it and returning
    /// to `home` (or to where it was without one).
    fn in_netns_from(netns: &Netns, home: Option<&Netns>) -> Result<Self>;
}

impl OpenIn for Handle {
    fn open_here(netns: String) -> Result<Self> {
        Handle::open_here(netns)
    }
    fn in_netns_from(netns: &Netns, home: Option<&Netns>) -> Result<Self> {
        Handle::in_netns_from(netns, home)
    }
}

/// A handle opened on first use and kept: the [`Host`](crate::Host)'s, so
/// that an agent pays for the socket once.
#[derive(Debug)]
pub(crate) struct Lazy<T>(std::sync::OnceLock<T>);

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Lazy(std::sync::OnceLock::new())
    }
}

impl<T: OpenIn> Lazy<T> {
    /// The handle of the host namespace `ns`, opened now if need be (from
    /// a thread in `ns` already when `in_ns`, else returning to `home`, or
    /// to where the thread was without one).
    pub(crate) fn get(&self, ns: &Netns, home: Option<&Netns>, in_ns: bool) -> Result<&T> {
        if let Some(c) = self.0.get() {
            return Ok(c);
        }
        let c = match in_ns {
            true => T::open_here(ns.describe())?,
            false => T::in_netns_from(ns, home)?,
        };
        // Another thread may have been first: its handle is as good.
        let _ = self.0.set(c);
        Ok(self.0.get().expect("set above"))
    }
}

impl Conn {
    /// A socket of netlink `protocol` in the calling thread's namespace
    /// (`netns` names it in messages), bound, with floatip's options, and
    /// the default timeout. `socket_op` names the `socket()` call in an
    /// error (`socket(NETLINK_ROUTE)`).
    pub(crate) fn open(protocol: isize, socket_op: &'static str, netns: &str) -> Result<Conn> {
        let io = |op, e| Error::io(op, netns.to_owned(), e);
        let mut sock = Socket::new(protocol).map_err(|e| io(socket_op, e))?;
        // SOCK_CLOEXEC is not set by netlink-sys: never leak into children.
        set_cloexec(&sock).map_err(|e| io("fcntl(FD_CLOEXEC)", e))?;
        let addr = sock.bind_auto().map_err(|e| io("bind netlink", e))?;
        // A kernel older than an option answers ENOPROTOOPT, which is
        // ErrorKind::NotSupported; the op names the release that added it
        // (docs/testing.md, the kernel floor).
        sock.set_ext_ack(true).map_err(|e| io("setsockopt(NETLINK_EXT_ACK, Linux 4.12+)", e))?;
        // Errors echo only the request header, not the whole request.
        sock.set_cap_ack(true).map_err(|e| io("setsockopt(NETLINK_CAP_ACK, Linux 4.3+)", e))?;
        // Strict checking makes the kernel filter dumps by the header's
        // fields (ifindex, family, table) instead of returning everything.
        sock.set_netlink_get_strict_chk(true).map_err(|e| io("setsockopt(NETLINK_GET_STRICT_CHK, Linux 4.20+)", e))?;
        sock.set_rx_buf_sz(SO_RCVBUF_BYTES).map_err(|e| io("setsockopt(SO_RCVBUF)", e))?;
        let mut conn = Conn {
            sock,
            port: addr.port_number(),
            seq: 0,
            tx: Vec::with_capacity(1024),
            rx: rx_buffer(),
            timeout: Duration::ZERO,
        };
        conn.set_timeout(DEFAULT_TIMEOUT, netns)?;
        Ok(conn)
    }

    /// Sets how long each request waits for the kernel (`SO_RCVTIMEO`).
    pub(crate) fn set_timeout(&mut self, timeout: Duration, netns: &str) -> Result<()> {
        let sock = socket2::SockRef::from(&self.sock);
        sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(|e| Error::io("setsockopt(SO_RCVTIMEO)", netns.to_owned(), e))?;
        self.timeout = timeout;
        Ok(())
    }

    /// Sends `msg` with `NLM_F_REQUEST | flags` and collects the answer
    /// `expect` says: an ack, one reply, or a whole dump (retried when the
    /// kernel marks it `NLM_F_DUMP_INTR`).
    pub(crate) fn exchange<T: NetlinkSerializable>(
        &mut self,
        op: &'static str,
        object: &dyn Fn() -> String,
        msg: T,
        flags: u16,
        expect: Expect,
    ) -> Result<Vec<Reply>> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        let attempts = if expect == Expect::Dump { DUMP_RETRIES } else { 1 };
        for _ in 0..attempts {
            self.seq = self.seq.wrapping_add(1).max(1);
            req.header.sequence_number = self.seq;
            req.finalize();
            let len = req.buffer_len();
            self.tx.clear();
            self.tx.resize(len, 0);
            req.serialize(&mut self.tx[..]);
            self.sock
                .send_to(&self.tx, &SocketAddr::new(0, 0), 0)
                .map_err(|e| Error::io("sendto netlink", object(), e))?;
            match self.receive(op, object, expect)? {
                Some(v) => return Ok(v),
                None => continue, // NLM_F_DUMP_INTR: the dump was inconsistent, retry
            }
        }
        Err(Error::Protocol { op, detail: format!("dump of {} interrupted {DUMP_RETRIES} times in a row", object()) })
    }

    /// Reads until the answer to `self.seq` is complete. `Ok(None)` means a
    /// dump came back marked `NLM_F_DUMP_INTR` and must be retried.
    fn receive(&mut self, op: &'static str, object: &dyn Fn() -> String, expect: Expect) -> Result<Option<Vec<Reply>>> {
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            self.rx.clear();
            let n = match self.sock.recv(&mut self.rx, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(Error::Timeout { op, object: object(), timeout_ms: self.timeout.as_millis() as u64 })
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("recv netlink", object(), e)),
            };
            if n > self.rx.len() {
                return Err(Error::Protocol {
                    op,
                    detail: format!("reply of {n} bytes truncated to {}", self.rx.len()),
                });
            }
            let mut off = 0;
            while off < n {
                let buf = NetlinkBuffer::new_checked(&self.rx[off..n])
                    .map_err(|e| Error::Protocol { op, detail: e.to_string() })?;
                let len = buf.length() as usize;
                let (seq, port, flags, kind) =
                    (buf.sequence_number(), buf.port_number(), buf.flags(), buf.message_type());
                let raw = &self.rx[off..off + len];
                off += align4(len);
                if seq != self.seq || (port != self.port && port != 0) {
                    continue; // a late answer to an earlier, timed-out request
                }
                if flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match kind {
                    NLMSG_ERROR => {
                        let body = &raw[16..];
                        let code = i32::from_ne_bytes(
                            body.get(..4)
                                .and_then(|b| b.try_into().ok())
                                .ok_or_else(|| Error::Protocol { op, detail: "short NLMSG_ERROR".into() })?,
                        );
                        if code == 0 {
                            return Ok(Some(out)); // the ack
                        }
                        return Err(Error::netlink(op, object(), -code, ext_ack_message(flags, &body[4..])));
                    }
                    NLMSG_DONE => {
                        let body = &raw[16..];
                        let code = body.get(..4).map(|b| i32::from_ne_bytes(b.try_into().unwrap())).unwrap_or(0);
                        if code < 0 {
                            let tlvs = if flags & NLM_F_ACK_TLVS != 0 { &body[4..] } else { &[][..] };
                            return Err(Error::netlink(op, object(), -code, tlv_message(tlvs)));
                        }
                        return Ok(if interrupted { None } else { Some(out) });
                    }
                    _ => {
                        out.push(Reply { kind, payload: raw[16..].to_vec() });
                        if expect == Expect::Reply && flags & NLM_F_MULTIPART == 0 {
                            return Ok(Some(out));
                        }
                    }
                }
            }
        }
    }
}

/// One rtnetlink message from the kernel, not yet parsed: its type
/// (`RTM_NEWLINK`...) and the bytes after the netlink header.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) kind: u16,
    pub(crate) payload: Vec<u8>,
}

impl Reply {
    /// Parses the message with `netlink-packet-route`.
    pub(crate) fn parse(&self, op: &'static str) -> Result<RouteNetlinkMessage> {
        let mut h = NetlinkHeader::default();
        h.message_type = self.kind;
        <RouteNetlinkMessage as NetlinkDeserializable>::deserialize(&h, &self.payload)
            .map_err(|e| Error::Protocol { op, detail: e.to_string() })
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The kernel's extended-ack text from the body of an `NLMSG_ERROR` after
/// its error code: the original request's header (and, without
/// `NLM_F_CAPPED`, its payload), then, with `NLM_F_ACK_TLVS`, attributes of
/// which `NLMSGERR_ATTR_MSG` is the NUL-terminated message
/// (`netlink_ack()` in `net/netlink/af_netlink.c`).
pub(crate) fn ext_ack_message(flags: u16, after_code: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let orig_len = u32::from_ne_bytes(after_code.get(..4)?.try_into().ok()?) as usize;
    let skip = if flags & NLM_F_CAPPED != 0 { 16 } else { align4(orig_len) };
    tlv_message(after_code.get(skip..)?)
}

/// Finds `NLMSGERR_ATTR_MSG` in a run of netlink attributes.
fn tlv_message(mut tlvs: &[u8]) -> Option<String> {
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let v = &tlvs[4..len];
            let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
            return Some(String::from_utf8_lossy(&v[..end]).into_owned());
        }
        tlvs = tlvs.get(align4(len)..).unwrap_or(&[]);
    }
    None
}

fn set_cloexec(sock: &Socket) -> std::io::Result<()> {
    let s = socket2::SockRef::from(sock);
    debug_assert!(sock.as_raw_fd() >= 0);
    s.set_cloexec(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NLMSG_ERROR the kernel sent (6.18) for `ip -n A link add link v0
    /// name v0.100 type vlan id 100` on a kernel without 8021q, captured with
    /// `strace -e recvmsg -x`: outer flags NLM_F_ACK_TLVS (iproute2 does not
    /// set NETLINK_CAP_ACK, so the whole 76-byte request is echoed), error
    /// -EOPNOTSUPP. These are the bytes after the error code.
    #[rustfmt::skip]
    const UNCAPPED_ERR_AFTER_CODE: [u8; 100] = [
        // echoed nlmsghdr: len 76, RTM_NEWLINK, flags 0x605, seq 0x6b08c91f, pid 0
        0x4c, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, 0x1f, 0xc9, 0x08, 0x6b, 0x00, 0x00, 0x00, 0x00,
        // echoed payload (the vlan request)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x08, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x03, 0x00, 0x76, 0x30, 0x2e, 0x31,
        0x30, 0x30, 0x00, 0x00, 0x18, 0x00, 0x12, 0x00, 0x08, 0x00, 0x01, 0x00, 0x76, 0x6c, 0x61, 0x6e,
        0x0c, 0x00, 0x02, 0x00, 0x06, 0x00, 0x01, 0x00, 0x64, 0x00, 0x00, 0x00,
        // NLMSGERR_ATTR_MSG (1), len 24: "Unknown device type\0"
        0x18, 0x00, 0x01, 0x00, 0x55, 0x6e, 0x6b, 0x6e, 0x6f, 0x77, 0x6e, 0x20, 0x64, 0x65, 0x76, 0x69,
        0x63, 0x65, 0x20, 0x74, 0x79, 0x70, 0x65, 0x00,
    ];

    #[test]
    fn ext_ack_uncapped_real_capture() {
        assert_eq!(ext_ack_message(NLM_F_ACK_TLVS, &UNCAPPED_ERR_AFTER_CODE).as_deref(), Some("Unknown device type"));
        // Without NLM_F_ACK_TLVS there is no message even if bytes follow.
        assert_eq!(ext_ack_message(0, &UNCAPPED_ERR_AFTER_CODE), None);
    }

    #[test]
    fn ext_ack_capped() {
        // With NETLINK_CAP_ACK (floatip's setting) the kernel echoes only the
        // 16-byte header: the same reply as above without the echoed payload.
        let mut capped = UNCAPPED_ERR_AFTER_CODE[..16].to_vec();
        capped.extend_from_slice(&UNCAPPED_ERR_AFTER_CODE[76..]);
        assert_eq!(ext_ack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &capped).as_deref(), Some("Unknown device type"));
    }

    #[test]
    fn ext_ack_uncapped_skips_whole_request() {
        // Original message of 20 bytes (header + 4 payload bytes), then the TLV.
        let mut b = vec![20, 0, 0, 0, 16, 0, 5, 6, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9];
        b.extend_from_slice(&[8, 0, 1, 0, b'h', b'i', 0, 0]);
        assert_eq!(ext_ack_message(NLM_F_ACK_TLVS, &b).as_deref(), Some("hi"));
    }

    #[test]
    fn ext_ack_never_panics_on_garbage() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = ext_ack_message(NLM_F_ACK_TLVS, &junk);
            let _ = ext_ack_message(NLM_F_ACK_TLVS | NLM_F_CAPPED, &junk);
            let _ = tlv_message(&junk);
        }
        // Attribute claiming more bytes than there are.
        assert_eq!(tlv_message(&[0xff, 0, 1, 0, b'x']), None);
    }
}
