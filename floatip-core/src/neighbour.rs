//! Neighbour entries, including proxy entries: the `ip neigh` subcommand.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteProtocol, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rt};

use crate::error::{Error, Result};
use crate::netlink::Handle;
use crate::wire::Mac;

/// `NUD_PERMANENT`.
pub const NUD_PERMANENT: u16 = 0x80;
/// `NUD_REACHABLE`.
pub const NUD_REACHABLE: u16 = 0x02;
/// `NUD_STALE`.
pub const NUD_STALE: u16 = 0x04;
/// `NUD_FAILED`.
pub const NUD_FAILED: u16 = 0x20;
/// `NUD_INCOMPLETE`.
pub const NUD_INCOMPLETE: u16 = 0x01;

/// A neighbour entry (`ip -j neigh show`) or proxy entry
/// (`ip -j neigh show proxy`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Neighbour {
    /// Interface index.
    pub index: u32,
    /// The neighbour's IP.
    pub ip: IpAddr,
    /// Its link-layer address, when resolved (proxy entries have none).
    pub mac: Option<Mac>,
    /// `NUD_*` state bits.
    pub state: u16,
    /// A proxy entry (`NTF_PROXY`): the kernel answers ARP/NDP for `ip` on
    /// this interface.
    pub proxy: bool,
    /// `NDA_PROTOCOL`: who made the entry (`ip neigh ... protocol N`,
    /// kernel 5.0+); 0 when unset.
    pub protocol: u8,
}

fn neigh_msg(index: u32, ip: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = if ip.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    m.header.ifindex = index;
    m.header.kind = RouteType::Unspec;
    m.attributes.push(NeighbourAttribute::Destination(match ip {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }));
    m
}

fn proxy_msg(index: u32, ip: IpAddr) -> NeighbourMessage {
    let mut m = neigh_msg(index, ip);
    m.header.flags = NeighbourFlags::Proxy;
    m.header.state = NeighbourState::from(NUD_PERMANENT);
    m
}

fn protocol_of(m: &NeighbourMessage) -> u8 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            NeighbourAttribute::Protocol(p) => Some(u8::from(*p)),
            _ => None,
        })
        .unwrap_or(0)
}

impl Handle {
    /// `ip neigh add IP lladdr MAC dev LINK nud permanent`.
    pub fn neigh_add(&self, index: u32, ip: IpAddr, mac: Mac) -> Result<()> {
        self.neigh_permanent(index, ip, mac, NLM_F_CREATE | NLM_F_EXCL, "")
    }

    /// `ip neigh replace IP lladdr MAC dev LINK nud permanent`.
    pub fn neigh_replace(&self, index: u32, ip: IpAddr, mac: Mac) -> Result<()> {
        self.neigh_permanent(index, ip, mac, NLM_F_CREATE | NLM_F_REPLACE, "replace ")
    }

    fn neigh_permanent(&self, index: u32, ip: IpAddr, mac: Mac, flags: u16, verb: &str) -> Result<()> {
        let mut m = neigh_msg(index, ip);
        m.header.state = NeighbourState::from(NUD_PERMANENT);
        m.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        self.ack(
            "RTM_NEWNEIGH",
            || format!("{verb}{ip} lladdr {mac} dev ifindex {index} in {}", self.netns()),
            Rt::NewNeighbour(m),
            flags,
        )
    }

    /// `ip neigh del IP dev LINK`.
    pub fn neigh_del(&self, index: u32, ip: IpAddr) -> Result<()> {
        self.ack(
            "RTM_DELNEIGH",
            || format!("{ip} dev ifindex {index} in {}", self.netns()),
            Rt::DelNeighbour(neigh_msg(index, ip)),
            0,
        )
    }

    /// `ip neigh add proxy IP dev LINK`: the kernel answers ARP (with
    /// forwarding on) or NDP (with `proxy_ndp`) for `ip` on this link.
    /// The kernel does not report an existing proxy entry (`pneigh_create()`
    /// in `net/core/neighbour.c` returns it): adding twice succeeds, so
    /// look first with [`Handle::neigh_proxies`] if it matters who made it.
    pub fn neigh_proxy_add(&self, index: u32, ip: IpAddr) -> Result<()> {
        self.neigh_proxy_add_protocol(index, ip, 0)
    }

    /// `ip neigh add proxy IP dev LINK protocol N`: a proxy entry that
    /// says who made it (`NDA_PROTOCOL`, kept by the kernel since 5.0 in
    /// `pneigh_entry.protocol` and reported in dumps). 0 sets none.
    pub fn neigh_proxy_add_protocol(&self, index: u32, ip: IpAddr, protocol: u8) -> Result<()> {
        let mut m = proxy_msg(index, ip);
        if protocol != 0 {
            m.attributes.push(NeighbourAttribute::Protocol(RouteProtocol::from(protocol)));
        }
        self.ack(
            "RTM_NEWNEIGH",
            || format!("proxy {ip} dev ifindex {index} protocol {protocol} in {}", self.netns()),
            Rt::NewNeighbour(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip neigh get proxy IP dev LINK`: one proxy entry, looked up in the
    /// kernel (RTM_GETNEIGH with `NTF_PROXY`), `None` if there is none.
    pub fn neigh_proxy_get(&self, index: u32, ip: IpAddr) -> Result<Option<Neighbour>> {
        let mut m = neigh_msg(index, ip);
        m.header.flags = NeighbourFlags::Proxy;
        match self.get(
            "RTM_GETNEIGH",
            || format!("proxy {ip} dev ifindex {index} in {}", self.netns()),
            Rt::GetNeighbour(m),
        ) {
            Ok(Rt::NewNeighbour(m)) => Ok(Some(Neighbour {
                index,
                ip,
                mac: None,
                state: NUD_PERMANENT,
                proxy: true,
                protocol: protocol_of(&m),
            })),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            // Before Linux 5.0 RTM_GETNEIGH had no handler for one entry
            // (only dumps), and the kernel answers EOPNOTSUPP.
            Err(e @ Error::Netlink { .. }) if e.errno() == Some(libc::EOPNOTSUPP) => {
                Err(e.with_object(|o| format!("{o} (getting one entry needs Linux 5.0+)")))
            }
            Err(e) => Err(e),
        }
    }

    /// `ip neigh del proxy IP dev LINK`. `NotFound` if there is none.
    pub fn neigh_proxy_del(&self, index: u32, ip: IpAddr) -> Result<()> {
        self.ack(
            "RTM_DELNEIGH",
            || format!("proxy {ip} dev ifindex {index} in {}", self.netns()),
            Rt::DelNeighbour(proxy_msg(index, ip)),
            0,
        )
    }

    /// `ip neigh show [dev LINK]`: neighbour cache entries of both families.
    pub fn neighbours(&self, index: Option<u32>) -> Result<Vec<Neighbour>> {
        self.neigh_dump(index, false)
    }

    /// `ip neigh show proxy [dev LINK]`: proxy entries of both families.
    pub fn neigh_proxies(&self, index: Option<u32>) -> Result<Vec<Neighbour>> {
        self.neigh_dump(index, true)
    }

    fn neigh_dump(&self, index: Option<u32>, proxy: bool) -> Result<Vec<Neighbour>> {
        let mut out = Vec::new();
        for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut m = NeighbourMessage::default();
            m.header.family = fam;
            // Strict checking: ifindex in the header filters in the kernel,
            // NTF_PROXY selects the proxy table (`neigh_dump_info()`).
            if let Some(i) = index {
                m.attributes.push(NeighbourAttribute::IfIndex(i));
            }
            if proxy {
                m.header.flags = NeighbourFlags::Proxy;
            }
            let what = if proxy { "proxy " } else { "" };
            let v = self.dump("RTM_GETNEIGH", || format!("dump {what}in {}", self.netns()), Rt::GetNeighbour(m))?;
            for r in v {
                let Rt::NewNeighbour(m) = r else { continue };
                let is_proxy = m.header.flags.contains(NeighbourFlags::Proxy);
                if is_proxy != proxy || index.is_some_and(|i| i != m.header.ifindex) {
                    continue;
                }
                let mut ip = None;
                let mut mac = None;
                for a in &m.attributes {
                    match a {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => ip = Some(IpAddr::V4(*a)),
                        NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => ip = Some(IpAddr::V6(*a)),
                        NeighbourAttribute::LinkLayerAddress(l) if l.len() == 6 => {
                            mac = Some(Mac(l.as_slice().try_into().expect("length checked")))
                        }
                        _ => {}
                    }
                }
                let Some(ip) = ip else { continue };
                out.push(Neighbour {
                    index: m.header.ifindex,
                    ip,
                    mac,
                    state: u16::from(m.header.state),
                    proxy: is_proxy,
                    protocol: protocol_of(&m),
                });
            }
        }
        Ok(out)
    }
}
