//! Interface addresses: the `ip address` subcommand.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rt};

use crate::error::Result;
use crate::netlink::Handle;
use crate::prefix::IpPrefix;

/// An address on an interface (`ip -j addr show`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// Address and prefix length, e.g. `10.0.0.100/23`.
    pub prefix: IpPrefix,
    /// Scope (`RT_SCOPE_*`): 0 global, 253 link, 254 host.
    pub scope: u8,
    /// `IFA_F_*` flags (`nodad`, `tentative`, `permanent`...).
    pub flags: u32,
}

impl Address {
    /// True when the address was added with `nodad` (IPv6).
    pub fn nodad(&self) -> bool {
        self.flags & AddressFlags::Nodad.bits() != 0
    }
    /// True while IPv6 duplicate address detection is still running.
    pub fn tentative(&self) -> bool {
        self.flags & AddressFlags::Tentative.bits() != 0
    }
}

/// Options for [`Handle::addr_add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddrOptions {
    /// IPv6: skip duplicate address detection (`nodad`), so the address is
    /// usable at once instead of after 1-2 s of DAD.
    pub nodad: bool,
    /// Do not add the prefix route the kernel adds by default
    /// (`noprefixroute`).
    pub noprefixroute: bool,
}

crate::setters::setters!(AddrOptions { nodad: bool, noprefixroute: bool });

fn family(ip: &IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn addr_msg(index: u32, p: &IpPrefix, opts: AddrOptions) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(&p.addr());
    m.header.prefix_len = p.len();
    m.header.index = index;
    m.header.scope = AddressScope::Universe;
    m.attributes.push(AddressAttribute::Local(p.addr()));
    if p.is_ipv4() {
        m.attributes.push(AddressAttribute::Address(p.addr()));
        if let Some(b) = p.broadcast() {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
    } else {
        m.attributes.push(AddressAttribute::Address(p.addr()));
    }
    let mut flags = AddressFlags::empty();
    if opts.nodad {
        flags |= AddressFlags::Nodad;
    }
    if opts.noprefixroute {
        flags |= AddressFlags::Noprefixroute;
    }
    if !flags.is_empty() {
        m.attributes.push(AddressAttribute::Flags(flags));
    }
    m
}

impl Handle {
    /// `ip addr add PREFIX [broadcast +] dev LINK [nodad] [noprefixroute]`.
    /// Fails with `AlreadyExists` if the address is there.
    pub fn addr_add(&self, index: u32, prefix: IpPrefix, opts: AddrOptions) -> Result<()> {
        self.ack(
            "RTM_NEWADDR",
            || format!("{prefix} dev ifindex {index} in {}", self.netns()),
            Rt::NewAddress(addr_msg(index, &prefix, opts)),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip addr replace PREFIX dev LINK`: adds, or updates the existing one.
    pub fn addr_replace(&self, index: u32, prefix: IpPrefix, opts: AddrOptions) -> Result<()> {
        self.ack(
            "RTM_NEWADDR",
            || format!("replace {prefix} dev ifindex {index} in {}", self.netns()),
            Rt::NewAddress(addr_msg(index, &prefix, opts)),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip addr del PREFIX dev LINK`. `NotFound` if it is not there.
    pub fn addr_del(&self, index: u32, prefix: IpPrefix) -> Result<()> {
        self.ack(
            "RTM_DELADDR",
            || format!("{prefix} dev ifindex {index} in {}", self.netns()),
            Rt::DelAddress(addr_msg(index, &prefix, AddrOptions::default())),
            0,
        )
    }

    /// `ip addr show [dev LINK]`: addresses of one link (`Some(index)`,
    /// filtered by the kernel) or of all links, both families.
    pub fn addrs(&self, index: Option<u32>) -> Result<Vec<Address>> {
        let mut m = AddressMessage::default();
        m.header.index = index.unwrap_or(0);
        let what = || match index {
            Some(i) => format!("dump ifindex {i} in {}", self.netns()),
            None => format!("dump all links in {}", self.netns()),
        };
        let v = self.dump("RTM_GETADDR", what, Rt::GetAddress(m))?;
        let mut out = Vec::new();
        for r in v {
            let Rt::NewAddress(m) = r else { continue };
            let mut ip = None;
            let mut local = None;
            let mut flags = u32::from(m.header.flags.bits());
            for a in &m.attributes {
                match a {
                    AddressAttribute::Address(a) => ip = Some(*a),
                    AddressAttribute::Local(a) => local = Some(*a),
                    AddressAttribute::Flags(f) => flags = f.bits(),
                    _ => {}
                }
            }
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the
            // peer on point-to-point links (see `ip/ipaddress.c`).
            let Some(ip) = local.or(ip) else { continue };
            if index.is_some_and(|i| i != m.header.index) {
                continue;
            }
            out.push(Address {
                index: m.header.index,
                prefix: IpPrefix::new(ip, m.header.prefix_len)?,
                scope: u8::from(m.header.scope),
                flags,
            });
        }
        Ok(out)
    }
}
