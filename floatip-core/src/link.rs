//! Links (network interfaces): the `ip link` subcommand.

use std::os::fd::AsRawFd;

use netlink_packet_core::{DecodeError, NlasIterator, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, InfoVlan, LinkAttribute, LinkExtentMask, LinkFlags, LinkHeader, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage as Rt;

use crate::error::{Error, Result};
use crate::name::{IfName, IntoIfName};
use crate::netlink::Handle;
use crate::netns::Netns;
use crate::wire::Mac;

/// A network interface as the kernel reports it (`ip -d link show`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link {
    /// Interface index, unique within the namespace.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address, when the link has one.
    pub mac: Option<Mac>,
    /// MTU in bytes.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Link kind from `IFLA_INFO_KIND` (`veth`, `bridge`, `vlan`...), `None`
    /// for devices without one (loopback, physical NICs).
    pub kind: Option<String>,
    /// Index of the bridge (or other controller) this link is enslaved to.
    pub master: Option<u32>,
    /// `IFLA_LINK`: the peer's index for a veth, the parent for a VLAN.
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: set when `link` lives in another namespace.
    pub link_netnsid: Option<i32>,
    /// VLAN id, for `vlan` links.
    pub vlan_id: Option<u16>,
    /// Link group (`ip link set ... group N`); 0 is the default group.
    pub group: u32,
    /// `IFLA_IFALIAS` (`ip link set dev LINK alias TEXT`): where floatip
    /// keeps its owner mark on a host veth.
    pub alias: Option<String>,
}

// Attribute numbers from <linux/if_link.h>, for the lean reader below.
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_GROUP: u16 = 27;
const IFLA_OPERSTATE: u16 = 16;
/// `IF_OPER_UP` (RFC 2863 operational state "up").
const IF_OPER_UP: u8 = 6;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VLAN_ID: u16 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;

fn u32_of(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

fn str_of(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

impl Link {
    /// A link with only its header fields known.
    fn new(index: u32, flags: LinkFlags) -> Link {
        Link {
            index,
            name: String::new(),
            mac: None,
            mtu: 0,
            up: flags.contains(LinkFlags::Up),
            kind: None,
            master: None,
            link: None,
            link_netnsid: None,
            vlan_id: None,
            group: 0,
            alias: None,
        }
    }

    /// Reads a link from a raw RTM_NEWLINK payload, visiting only the
    /// attributes a `Link` keeps. A link reply carries ~40 attributes
    /// (per-family device configuration among them, over 1 KiB); decoding
    /// them all costs more than the kernel's own lookup, so the hot path
    /// iterates them with `netlink-packet-core`'s `NlasIterator` instead.
    /// [`Link::from_message`] is the full parse this must agree with.
    fn from_raw(payload: &[u8]) -> Result<Link> {
        let bad = |e: DecodeError| Error::Protocol { op: "RTM_GETLINK", detail: e.to_string() };
        let header = LinkHeader::parse(payload).map_err(bad)?;
        let mut l = Link::new(header.index, header.flags);
        for nla in NlasIterator::new(&payload[LINK_HEADER_LEN..]) {
            let nla = nla.map_err(bad)?;
            let v = nla.value();
            match nla.kind() & NLA_TYPE_MASK {
                IFLA_IFNAME => l.name = str_of(v),
                IFLA_ADDRESS if v.len() == 6 => l.mac = Mac::from_bytes(v),
                IFLA_MTU => l.mtu = u32_of(v).unwrap_or(0),
                IFLA_LINK => l.link = u32_of(v),
                IFLA_MASTER => l.master = u32_of(v).filter(|m| *m != 0),
                IFLA_LINK_NETNSID => l.link_netnsid = u32_of(v).map(|x| x as i32),
                IFLA_GROUP => l.group = u32_of(v).unwrap_or(0),
                IFLA_IFALIAS => l.alias = Some(str_of(v)).filter(|a| !a.is_empty()),
                IFLA_LINKINFO => {
                    for info in NlasIterator::new(v) {
                        let info = info.map_err(bad)?;
                        match info.kind() & NLA_TYPE_MASK {
                            IFLA_INFO_KIND => l.kind = Some(str_of(info.value())),
                            IFLA_INFO_DATA if l.kind.as_deref() == Some("vlan") => {
                                for d in NlasIterator::new(info.value()) {
                                    let d = d.map_err(bad)?;
                                    if d.kind() & NLA_TYPE_MASK == IFLA_VLAN_ID {
                                        l.vlan_id = d.value().get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(l)
    }

    /// The full parse through `netlink-packet-route`: the reference
    /// [`Link::from_raw`] is tested against.
    #[cfg(test)]
    fn from_message(m: LinkMessage) -> Link {
        let mut l = Link::new(m.header.index, m.header.flags);
        for a in m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n,
                LinkAttribute::Address(a) if a.len() == 6 => l.mac = Some(Mac(a.try_into().unwrap())),
                LinkAttribute::Mtu(m) => l.mtu = m,
                LinkAttribute::Controller(i) => l.master = Some(i).filter(|m| *m != 0),
                LinkAttribute::Link(i) => l.link = Some(i),
                LinkAttribute::LinkNetNsId(i) => l.link_netnsid = Some(i),
                LinkAttribute::Group(g) => l.group = g,
                LinkAttribute::IfAlias(a) => l.alias = Some(a).filter(|a| !a.is_empty()),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(k.to_string()),
                            LinkInfo::Data(InfoData::Vlan(v)) => {
                                for x in v {
                                    if let InfoVlan::Id(id) = x {
                                        l.vlan_id = Some(id);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }
}

/// A veth pair to create with [`Handle::veth_add`]: `ip link add NAME
/// [address MAC] [mtu MTU] type veth peer name PEER [address MAC] [netns NS]`.
#[derive(Debug)]
#[non_exhaustive]
pub struct VethSpec<'a> {
    /// The end that stays in the handle's namespace.
    pub name: IfName,
    /// Its MAC; set at creation, so udev cannot rewrite it later.
    pub mac: Option<Mac>,
    /// The other end.
    pub peer: IfName,
    /// The peer's MAC.
    pub peer_mac: Option<Mac>,
    /// Namespace to create the peer directly in (`IFLA_NET_NS_FD` inside the
    /// peer message); `None` keeps it next to `name`.
    pub peer_netns: Option<&'a Netns>,
    /// MTU for both ends.
    pub mtu: Option<u32>,
}

impl<'a> VethSpec<'a> {
    /// A pair `name` ↔ `peer` with kernel-chosen MACs, both in this namespace.
    pub fn new(name: IfName, peer: IfName) -> Self {
        VethSpec { name, mac: None, peer, peer_mac: None, peer_netns: None, mtu: None }
    }
}

fn link_msg_by_index(index: u32) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m
}

fn link_msg_by_name(name: &IfName) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.as_str().to_owned()));
    m
}

const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;
/// `RTM_NEWLINK`, the type of every link message the kernel sends.
const RTM_NEWLINK: u16 = 16;
/// Size of `struct ifinfomsg`.
const LINK_HEADER_LEN: usize = 16;

impl Handle {
    /// `ip link show dev NAME`: looks the link up by name in the kernel
    /// (RTM_GETLINK with `IFLA_IFNAME`), never by dumping every link.
    /// [`ErrorKind::NotFound`](crate::ErrorKind) when there is none.
    pub fn link_get(&self, name: impl IntoIfName) -> Result<Link> {
        let name = name.into_ifname()?;
        let mut m = link_msg_by_name(&name);
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let r = self.get_raw("RTM_GETLINK", || format!("dev {name} in {}", self.netns()), Rt::GetLink(m))?;
        Link::from_raw(&r.payload)
    }

    /// `ip link show` for one index (RTM_GETLINK by `ifi_index`).
    pub fn link_get_index(&self, index: u32) -> Result<Link> {
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let r = self.get_raw("RTM_GETLINK", || format!("ifindex {index} in {}", self.netns()), Rt::GetLink(m))?;
        Link::from_raw(&r.payload)
    }

    /// Whether link `index` is operationally up (`IFLA_OPERSTATE` is
    /// `IF_OPER_UP`, `state UP` in `ip link show`). A device brought up
    /// while it had no carrier (a veth whose peer was still down) starts to
    /// transmit only once the kernel's link watcher has seen the carrier
    /// come (`linkwatch_do_dev()` sets the state, then attaches the
    /// transmit queues with `dev_activate()`): a workqueue, so that can be
    /// milliseconds after the peer went up.
    pub(crate) fn link_oper_up(&self, index: u32) -> Result<bool> {
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let r = self.get_raw("RTM_GETLINK", || format!("ifindex {index} in {}", self.netns()), Rt::GetLink(m))?;
        let bad = |e: DecodeError| Error::Protocol { op: "RTM_GETLINK", detail: e.to_string() };
        for nla in NlasIterator::new(r.payload.get(LINK_HEADER_LEN..).unwrap_or_default()) {
            let nla = nla.map_err(bad)?;
            if nla.kind() & NLA_TYPE_MASK == IFLA_OPERSTATE {
                return Ok(nla.value().first() == Some(&IF_OPER_UP));
            }
        }
        Ok(false)
    }

    /// `ip link show`: every link in the namespace.
    pub fn links(&self) -> Result<Vec<Link>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let v = self.dump_raw("RTM_GETLINK", || format!("dump in {}", self.netns()), Rt::GetLink(m))?;
        v.iter().filter(|r| r.kind == RTM_NEWLINK).map(|r| Link::from_raw(&r.payload)).collect()
    }

    /// `ip link add NAME address MAC mtu MTU type veth peer name PEER address
    /// MAC2 netns NS`: one RTM_NEWLINK that creates both ends, the peer
    /// directly inside its namespace. The peer cannot be set up in the same
    /// message (the kernel answers ENOTCONN): bring it up afterwards with a
    /// handle in the peer's namespace.
    pub fn veth_add(&self, spec: &VethSpec<'_>) -> Result<()> {
        let m = veth_message(spec, spec.peer_netns.map(|n| n.as_raw_fd()));
        self.ack(
            "RTM_NEWLINK",
            || {
                let ns = spec.peer_netns.map(|n| format!(" {}", n.describe())).unwrap_or_default();
                format!("veth {} peer {}{ns} in {}", spec.name, spec.peer, self.netns())
            },
            Rt::NewLink(m),
            CREATE,
        )
    }

    /// `ip link add link PARENT name NAME type vlan id VID`. On a kernel
    /// without 8021q this fails with [`ErrorKind::NotSupported`](crate::ErrorKind).
    pub fn vlan_add(&self, name: &IfName, parent: u32, vid: u16) -> Result<()> {
        if vid == 0 || vid > 4094 {
            return Err(Error::invalid("vlan id", vid, "must be 1..=4094"));
        }
        let m = vlan_message(name, parent, vid);
        self.ack(
            "RTM_NEWLINK",
            || format!("vlan {name} id {vid} link {parent} in {}", self.netns()),
            Rt::NewLink(m),
            CREATE,
        )
        .map_err(unknown_kind_is_unsupported)
    }

    /// `ip link add NAME type bridge`.
    pub fn bridge_add(&self, name: &IfName) -> Result<()> {
        let mut m = link_msg_by_name(name);
        m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.ack("RTM_NEWLINK", || format!("bridge {name} in {}", self.netns()), Rt::NewLink(m), CREATE)
    }

    /// `ip link set dev LINK master BRIDGE` (or `nomaster` with `None`).
    pub fn link_set_master(&self, index: u32, master: Option<u32>) -> Result<()> {
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::Controller(master.unwrap_or(0)));
        self.ack(
            "RTM_SETLINK",
            || match master {
                Some(m) => format!("ifindex {index} master {m} in {}", self.netns()),
                None => format!("ifindex {index} nomaster in {}", self.netns()),
            },
            Rt::SetLink(m),
            0,
        )
    }

    /// `ip link set dev LINK up`.
    pub fn link_set_up(&self, index: u32) -> Result<()> {
        self.link_set_flags(index, true)
    }

    /// `ip link set dev LINK down`.
    pub fn link_set_down(&self, index: u32) -> Result<()> {
        self.link_set_flags(index, false)
    }

    fn link_set_flags(&self, index: u32, up: bool) -> Result<()> {
        let mut m = link_msg_by_index(index);
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        let word = if up { "up" } else { "down" };
        self.ack("RTM_SETLINK", || format!("ifindex {index} {word} in {}", self.netns()), Rt::SetLink(m), 0)
    }

    /// `ip link set dev LINK mtu MTU`.
    pub fn link_set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::Mtu(mtu));
        self.ack("RTM_SETLINK", || format!("ifindex {index} mtu {mtu} in {}", self.netns()), Rt::SetLink(m), 0)
    }

    /// `ip link set dev LINK netns NS`: moves a link into another namespace.
    pub fn link_set_netns(&self, index: u32, netns: &Netns) -> Result<()> {
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        self.ack(
            "RTM_SETLINK",
            || format!("ifindex {index} to {} in {}", netns.describe(), self.netns()),
            Rt::SetLink(m),
            0,
        )
    }

    /// `ip link set dev LINK alias TEXT` (`IFLA_IFALIAS`, at most 255
    /// bytes). The kernel ignores an alias in the message that creates a
    /// link (`rtnl_create_link()` does not read it), so it is set after.
    pub fn link_set_alias(&self, index: u32, alias: &str) -> Result<()> {
        if alias.len() > 255 {
            return Err(Error::invalid("link alias", alias, "longer than 255 bytes (IFALIASZ)"));
        }
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::IfAlias(alias.to_owned()));
        self.ack("RTM_SETLINK", || format!("ifindex {index} alias {alias:?} in {}", self.netns()), Rt::SetLink(m), 0)
    }

    /// `ip link set dev LINK group GROUP`.
    pub fn link_set_group(&self, index: u32, group: u32) -> Result<()> {
        let mut m = link_msg_by_index(index);
        m.attributes.push(LinkAttribute::Group(group));
        self.ack("RTM_SETLINK", || format!("ifindex {index} group {group} in {}", self.netns()), Rt::SetLink(m), 0)
    }

    /// `ip link set dev LINK down group GROUP`, in one request: the way a
    /// detach retires a veth (the kernel flushes the routes through it as
    /// it goes down, and no packet crosses a veth whose end is down).
    pub fn link_set_down_group(&self, index: u32, group: u32) -> Result<()> {
        let mut m = link_msg_by_index(index);
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::Group(group));
        self.ack("RTM_SETLINK", || format!("ifindex {index} down group {group} in {}", self.netns()), Rt::SetLink(m), 0)
    }

    /// `ip link del group GROUP`: deletes every link of the group in one
    /// request. The kernel unregisters them as one batch
    /// (`rtnl_group_dellink()` → `unregister_netdevice_many()`), sharing the
    /// RCU grace periods that dominate deleting links one by one.
    pub fn link_del_group(&self, group: u32) -> Result<()> {
        if group == 0 {
            return Err(Error::invalid("link group", group, "group 0 is every link's default group"));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::Group(group));
        self.ack("RTM_DELLINK", || format!("group {group} in {}", self.netns()), Rt::DelLink(m), 0)
    }

    /// [`Handle::link_del_group`] sent from a forked child, without waiting
    /// for the kernel (see `Handle::send_in_child`): the handle goes with it.
    #[cfg(feature = "cni")]
    pub(crate) fn link_del_group_in_child(self, group: u32) -> Result<()> {
        if group == 0 {
            return Err(Error::invalid("link group", group, "group 0 is every link's default group"));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::Group(group));
        self.send_in_child("RTM_DELLINK", Rt::DelLink(m))
    }

    /// `ip link del dev LINK`. Deleting one end of a veth deletes both.
    pub fn link_del(&self, index: u32) -> Result<()> {
        self.ack(
            "RTM_DELLINK",
            || format!("ifindex {index} in {}", self.netns()),
            Rt::DelLink(link_msg_by_index(index)),
            0,
        )
    }

    /// `ip link del dev NAME`, by name in the kernel (no lookup first).
    pub fn link_del_by_name(&self, name: &IfName) -> Result<()> {
        self.ack("RTM_DELLINK", || format!("dev {name} in {}", self.netns()), Rt::DelLink(link_msg_by_name(name)), 0)
    }
}

/// The RTM_NEWLINK body of `ip link add`, attributes in iproute2's order
/// (`ip/iplink.c`: address, mtu, name, then linkinfo; the peer the same,
/// with its netns fd before its name).
fn veth_message(spec: &VethSpec<'_>, peer_netns_fd: Option<std::os::fd::RawFd>) -> LinkMessage {
    let mut peer = LinkMessage::default();
    if let Some(mac) = spec.peer_mac {
        peer.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(mtu) = spec.mtu {
        peer.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(fd) = peer_netns_fd {
        peer.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    peer.attributes.push(LinkAttribute::IfName(spec.peer.as_str().to_owned()));
    let mut m = LinkMessage::default();
    if let Some(mac) = spec.mac {
        m.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(mtu) = spec.mtu {
        m.attributes.push(LinkAttribute::Mtu(mtu));
    }
    m.attributes.push(LinkAttribute::IfName(spec.name.as_str().to_owned()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    m
}

/// The RTM_NEWLINK body of `ip link add link PARENT name NAME type vlan id VID`.
fn vlan_message(name: &IfName, parent: u32, vid: u16) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::Link(parent));
    m.attributes.push(LinkAttribute::IfName(name.as_str().to_owned()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Vlan),
        LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(vid)])),
    ]));
    m
}

/// The kernel answers an unknown `IFLA_INFO_KIND` with EOPNOTSUPP and
/// "Unknown device type" (`rtnl_newlink()` in `net/core/rtnetlink.c`, after
/// `request_module("rtnl-link-KIND")` found no module): say so in the
/// object, keeping the kernel's errno (so [`ErrorKind::NotSupported`]).
fn unknown_kind_is_unsupported(e: Error) -> Error {
    match e.errno() {
        Some(libc::EOPNOTSUPP) => e.with_object(|o| format!("{o} (this kernel has no support for the link kind)")),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn body(m: &LinkMessage) -> Vec<u8> {
        let mut b = vec![0; m.buffer_len()];
        m.emit(&mut b);
        b
    }

    /// Checks our request against iproute2's bytes. They are equal as
    /// messages; as bytes they differ in one place: netlink-packet-route
    /// NUL-terminates `IFLA_INFO_KIND` ("veth\0", nla_len 9, padded to 12)
    /// where iproute2 sends "veth" (nla_len 8). The kernel's policy for that
    /// attribute is `NLA_STRING`, which takes both.
    fn assert_same_as_iproute2(ours: &LinkMessage, iproute2: &[u8], kind: &str) {
        use netlink_packet_core::Parseable;
        let theirs = LinkMessage::parse(iproute2).unwrap();
        assert_eq!(&theirs, ours);
        // Byte level: patch iproute2's kind attribute to the NUL-terminated
        // form and every enclosing length by the 4 bytes it grows.
        let ours = body(ours);
        let pat = [&[8u8, 0, 1, 0][..], kind.as_bytes()].concat();
        let at = iproute2.windows(pat.len()).position(|w| w == pat).unwrap();
        let mut patched = iproute2.to_vec();
        patched[at] = 9;
        patched.splice(at + 8..at + 8, [0, 0, 0, 0]);
        // IFLA_LINKINFO is the attribute just before the kind.
        patched[at - 4] += 4;
        assert_eq!(ours, patched);
    }

    /// `strace -e sendmsg -x ip -n A link add link v0 name v0.100 type vlan
    /// id 100` (iproute2 6.x, v0 = ifindex 3): the RTM_NEWLINK payload after
    /// the 16-byte nlmsghdr. This kernel refuses it (no 8021q), but these are
    /// the bytes a kernel with 8021q accepts.
    #[rustfmt::skip]
    const IP_VLAN_ADD: [u8; 60] = [
        // ifinfomsg: family 0, type 0, index 0, flags 0, change 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // IFLA_LINK (5) = 3
        0x08, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00,
        // IFLA_IFNAME (3) = "v0.100"
        0x0b, 0x00, 0x03, 0x00, 0x76, 0x30, 0x2e, 0x31, 0x30, 0x30, 0x00, 0x00,
        // IFLA_LINKINFO (18) { IFLA_INFO_KIND (1) = "vlan", IFLA_INFO_DATA (2) { IFLA_VLAN_ID (1) = 100 } }
        0x18, 0x00, 0x12, 0x00, 0x08, 0x00, 0x01, 0x00, 0x76, 0x6c, 0x61, 0x6e,
        0x0c, 0x00, 0x02, 0x00, 0x06, 0x00, 0x01, 0x00, 0x64, 0x00, 0x00, 0x00,
    ];

    /// The lean reader and the full parse agree, on messages with every
    /// attribute a `Link` keeps and many it skips.
    #[test]
    fn raw_reader_agrees_with_full_parse() {
        use netlink_packet_route::link::State;
        let mut vlan = vlan_message(&IfName::new("v0.100").unwrap(), 3, 100);
        vlan.header.index = 9;
        vlan.header.flags = LinkFlags::Up | LinkFlags::Broadcast;
        vlan.attributes.extend([
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9]),
            LinkAttribute::Mtu(1400),
            LinkAttribute::Controller(4),
            LinkAttribute::LinkNetNsId(2),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Qdisc("noqueue".into()),
            LinkAttribute::TxQueueLen(1000),
            LinkAttribute::Group(7),
        ]);
        let mut spec = VethSpec::new(IfName::new("vh0").unwrap(), IfName::new("eth0").unwrap());
        spec.mac = Some(Mac([2, 0, 0, 0, 0, 1]));
        spec.mtu = Some(9000);
        let veth = veth_message(&spec, None);
        for m in [vlan, veth, LinkMessage::default()] {
            let raw = Link::from_raw(&body(&m)).unwrap();
            assert_eq!(raw, Link::from_message(m.clone()));
        }
        let l = Link::from_raw(&body(&vlan_message(&IfName::new("v0.100").unwrap(), 3, 100))).unwrap();
        assert_eq!((l.vlan_id, l.link, l.kind.as_deref()), (Some(100), Some(3), Some("vlan")));
    }

    /// A real kernel reply (6.18): `strace -e recvmsg -x -s 65536 ip -n A
    /// link show dev vg0` after `ip -n A link add vg0 address
    /// 02:00:00:00:00:aa mtu 1400 type veth peer name vg1 netns B` and `ip -n
    /// A link set vg0 up`. The RTM_NEWLINK payload after the nlmsghdr:
    /// ifinfomsg and 1,100 bytes of attributes (AF_SPEC, stats, ...).
    const KERNEL_NEWLINK_VETH: &[u8] = include_bytes!("../testdata/rtm_newlink_veth.bin");

    #[test]
    fn reads_a_real_kernel_reply() {
        use netlink_packet_core::Parseable;
        let l = Link::from_raw(KERNEL_NEWLINK_VETH).unwrap();
        assert_eq!((l.index, l.name.as_str(), l.mtu, l.up), (2, "vg0", 1400, true));
        assert_eq!(l.mac, Some(Mac([2, 0, 0, 0, 0, 0xaa])));
        assert_eq!(l.kind.as_deref(), Some("veth"));
        assert!(l.link.is_some() && l.link_netnsid.is_some(), "peer in another netns: {l:?}");
        assert_eq!((l.master, l.vlan_id, l.group), (None, None, 0));
        // The full parse of the same bytes agrees.
        assert_eq!(Link::from_message(LinkMessage::parse(KERNEL_NEWLINK_VETH).unwrap()), l);
    }

    #[test]
    fn raw_reader_never_panics() {
        let good = body(&veth_message(&VethSpec::new(IfName::new("a").unwrap(), IfName::new("b").unwrap()), Some(4)));
        for cut in 0..good.len() {
            let _ = Link::from_raw(&good[..cut]);
        }
        for i in 16..good.len() {
            let mut b = good.clone();
            b[i] = b[i].wrapping_add(0x5b);
            let _ = Link::from_raw(&b);
        }
    }

    #[test]
    fn vlan_request_matches_iproute2() {
        let m = vlan_message(&IfName::new("v0.100").unwrap(), 3, 100);
        assert_same_as_iproute2(&m, &IP_VLAN_ADD, "vlan");
    }

    /// `strace -e sendmsg -x ip -n A link add vh0 address 02:00:00:00:00:01
    /// mtu 1400 type veth peer name eth0 address 02:00:00:00:00:02 mtu 1400
    /// netns B` (the netns B file was fd 4 in ip).
    #[rustfmt::skip]
    const IP_VETH_ADD: [u8; 120] = [
        // ifinfomsg, all zero
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // IFLA_ADDRESS (1) = 02:00:00:00:00:01
        0x0a, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        // IFLA_MTU (4) = 1400
        0x08, 0x00, 0x04, 0x00, 0x78, 0x05, 0x00, 0x00,
        // IFLA_IFNAME (3) = "vh0"
        0x08, 0x00, 0x03, 0x00, 0x76, 0x68, 0x30, 0x00,
        // IFLA_LINKINFO (18), len 76 { IFLA_INFO_KIND = "veth",
        0x4c, 0x00, 0x12, 0x00, 0x08, 0x00, 0x01, 0x00, 0x76, 0x65, 0x74, 0x68,
        //   IFLA_INFO_DATA, len 64 { VETH_INFO_PEER (1), len 60 { ifinfomsg,
        0x40, 0x00, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        //     IFLA_ADDRESS = 02:00:00:00:00:02, IFLA_MTU = 1400,
        0x0a, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
        0x08, 0x00, 0x04, 0x00, 0x78, 0x05, 0x00, 0x00,
        //     IFLA_NET_NS_FD (28) = 4, IFLA_IFNAME = "eth0" } } }
        0x08, 0x00, 0x1c, 0x00, 0x04, 0x00, 0x00, 0x00,
        0x09, 0x00, 0x03, 0x00, 0x65, 0x74, 0x68, 0x30, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn veth_request_matches_iproute2() {
        let mut spec = VethSpec::new(IfName::new("vh0").unwrap(), IfName::new("eth0").unwrap());
        spec.mac = Some(Mac([2, 0, 0, 0, 0, 1]));
        spec.peer_mac = Some(Mac([2, 0, 0, 0, 0, 2]));
        spec.mtu = Some(1400);
        assert_same_as_iproute2(&veth_message(&spec, Some(4)), &IP_VETH_ADD, "veth");
    }
}
