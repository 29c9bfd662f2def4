//! floatip: floating-IP pod networking on Linux, node side.
//!
//! A *floating IP* is an address of the physical LAN that follows a pod
//! from node to node. floatip wires it the routed ("pure L3") way: a veth
//! pair per pod and no bridge; the pod end holds the floating IP and a
//! default route via the LAN gateway, the host end a /32 route and proxy
//! ARP, the uplink a proxy neighbour entry; after a move the new node
//! announces the address with gratuitous ARP (or an unsolicited Neighbor
//! Advertisement for IPv6) written as raw frames.
//!
//! The crate is synchronous (no async runtime) and layered, each layer
//! usable on its own:
//! 1. [`wire`]: sans-IO ARP / Ethernet / ICMPv6 frames.
//! 2. [`netlink`]: one rtnetlink socket per namespace ([`Handle`]).
//! 3. objects: [`link`], [`address`], [`route`], [`rule`], [`neighbour`], [`sysctl`],
//!    [`netns`], each method named after the `ip` command it equals; and
//!    [`conntrack`], the connection tracking table through ctnetlink.
//!
//! ```no_run
//! use floatip::{AddrOptions, Handle, IfName, Netns, Route, VethSpec};
//! # fn main() -> floatip::Result<()> {
//! let host = Netns::create("host")?;
//! let pod = Netns::create("pod")?;
//! let h = Handle::in_netns(&host)?;
//! let mut v = VethSpec::new(IfName::new("vh0")?, IfName::new("eth0")?);
//! v.peer_netns = Some(&pod);
//! h.veth_add(&v)?; // ip link add vh0 type veth peer name eth0 netns pod
//! let vh0 = h.link_get("vh0")?;
//! h.link_set_up(vh0.index)?;
//! h.route_add(&Route::to("10.0.0.100/32".parse()?).dev(vh0.index))?;
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "floatip is Linux only: it speaks rtnetlink, enters network namespaces with setns(2) and sends raw \
     frames on AF_PACKET sockets, none of which exist on this target"
);

/// The crate README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;

pub mod address;
pub mod announce;
#[cfg(feature = "cni")]
pub mod cni;
pub mod conntrack;
pub mod error;
pub mod floating;
pub mod host;
pub mod link;
pub mod lock;
pub mod name;
pub mod neighbour;
pub mod netlink;
pub mod netns;
pub mod prefix;
pub mod probe;
pub mod reaper;
pub mod route;
pub mod rule;
mod setters;
mod sys;
pub mod sysctl;
pub mod watch;
pub mod wire;

pub use address::{AddrOptions, Address};
pub use conntrack::Conntrack;
pub use error::{Error, ErrorKind, Result};
pub use floating::{default_table, FloatingIp, DEFAULT_RULE_PRIORITY, DEFAULT_TABLE_BASE};
pub use host::Host;
pub use link::{Link, VethSpec};
pub use name::IfName;
pub use neighbour::Neighbour;
pub use netlink::Handle;
pub use netns::Netns;
pub use prefix::IpPrefix;
pub use route::{Route, RouteFilter};
pub use rule::{Rule, RuleKind};
pub use sysctl::SysctlKey;
pub use watch::{WatchReport, Watcher};
pub use wire::Mac;
