//! Shared pieces of floatip's benchmarks: the bare-socket floor, and what
//! the harness binaries share besides their lab ([`harness`]).
//!
//! The floor sends pre-encoded netlink bytes on a plain `NETLINK_ROUTE`
//! socket and reads the answer, with no library logic at all: it is what the
//! kernel alone costs, so `floatip / floor` is the library's own overhead.

pub mod harness;

use floatip::Netns;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A raw rtnetlink socket in a namespace, replaying one encoded request.
pub struct Floor {
    sock: Socket,
    req: Vec<u8>,
    buf: Vec<u8>,
}

impl Floor {
    /// RTM_GETLINK for `name`, encoded once, the same request floatip sends.
    pub fn get_link(ns: &Netns, name: &str) -> Floor {
        let sock = ns
            .run(|| {
                let mut s = Socket::new(NETLINK_ROUTE).unwrap();
                s.bind_auto().unwrap();
                s
            })
            .unwrap();
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let mut h = NetlinkHeader::default();
        h.flags = NLM_F_REQUEST;
        h.sequence_number = 1;
        let mut msg = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetLink(m)));
        msg.finalize();
        let mut req = vec![0; msg.buffer_len()];
        msg.serialize(&mut req);
        Floor { sock, req, buf: Vec::with_capacity(64 * 1024) }
    }

    /// One send of the pre-encoded bytes and one receive.
    pub fn round_trip(&mut self) -> usize {
        self.sock.send_to(&self.req, &SocketAddr::new(0, 0), 0).unwrap();
        self.buf.clear();
        self.sock.recv(&mut self.buf, 0).unwrap()
    }
}
