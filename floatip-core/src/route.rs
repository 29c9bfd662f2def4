//! Routes: the `ip route` subcommand.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage as Rt};

use crate::error::{Error, Result};
use crate::netlink::Handle;
use crate::prefix::IpPrefix;

/// The main routing table (`RT_TABLE_MAIN`).
pub const TABLE_MAIN: u32 = 254;
/// `RTPROT_BOOT`: what `ip route add` marks its routes with.
pub const PROTO_BOOT: u8 = 3;
/// `RTPROT_STATIC`.
pub const PROTO_STATIC: u8 = 4;
/// `RT_SCOPE_UNIVERSE`.
pub const SCOPE_UNIVERSE: u8 = 0;
/// `RT_SCOPE_LINK`: the destination is directly on the link.
pub const SCOPE_LINK: u8 = 253;
/// `RTN_UNICAST`.
pub const RTN_UNICAST: u8 = 1;

/// A route, both as a request and as the kernel reports it.
///
/// ```
/// use floatip::{IpPrefix, Route};
/// // ip route add 10.0.0.100/32 dev <ifindex 7> scope link
/// let host = Route::to(IpPrefix::host("10.0.0.100".parse().unwrap())).dev(7);
/// // ip route add default via 10.0.0.1 dev <ifindex 2>
/// let dflt = Route::default_via("10.0.0.1".parse().unwrap()).dev(2);
/// assert_eq!(host.effective_scope(), floatip::route::SCOPE_LINK);
/// assert_eq!(dflt.dst.to_string(), "0.0.0.0/0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route {
    /// Destination prefix (`0.0.0.0/0` or `::/0` for the default route).
    pub dst: IpPrefix,
    /// Next hop (`via`).
    pub gateway: Option<IpAddr>,
    /// Output interface index (`dev`).
    pub oif: Option<u32>,
    /// Routing table; [`TABLE_MAIN`] unless set.
    pub table: u32,
    /// `RTPROT_*` that marks who installed it; [`PROTO_BOOT`] unless set,
    /// as with `ip route add`.
    pub protocol: u8,
    /// `RT_SCOPE_*`; `None` means link scope without a gateway and universe
    /// with one, as `ip route add` picks.
    pub scope: Option<u8>,
    /// `RTN_*` route type; unicast unless set.
    pub kind: u8,
    /// Metric (`metric N`).
    pub priority: Option<u32>,
    /// `onlink`: the gateway is on the link even though no prefix route
    /// says so (`RTNH_F_ONLINK`).
    pub onlink: bool,
}

impl Route {
    /// A unicast route to `dst` in the main table.
    pub fn to(dst: IpPrefix) -> Route {
        Route {
            dst,
            gateway: None,
            oif: None,
            table: TABLE_MAIN,
            protocol: PROTO_BOOT,
            scope: None,
            kind: RTN_UNICAST,
            priority: None,
            onlink: false,
        }
    }

    /// `default via GW`.
    pub fn default_via(gw: IpAddr) -> Route {
        let any = match gw {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        Route::to(IpPrefix::new(any, 0).expect("0 fits every family")).via(gw)
    }

    /// Sets the next hop.
    pub fn via(mut self, gw: IpAddr) -> Route {
        self.gateway = Some(gw);
        self
    }

    /// Sets the output interface.
    pub fn dev(mut self, index: u32) -> Route {
        self.oif = Some(index);
        self
    }

    /// Sets the table.
    pub fn table(mut self, table: u32) -> Route {
        self.table = table;
        self
    }

    /// Sets the protocol.
    pub fn protocol(mut self, protocol: u8) -> Route {
        self.protocol = protocol;
        self
    }

    /// Sets the scope explicitly.
    pub fn scope(mut self, scope: u8) -> Route {
        self.scope = Some(scope);
        self
    }

    /// Marks the gateway as directly on the link (`onlink`).
    pub fn onlink(mut self) -> Route {
        self.onlink = true;
        self
    }

    /// Sets the metric.
    pub fn metric(mut self, priority: u32) -> Route {
        self.priority = Some(priority);
        self
    }

    /// The scope the route is (or will be) installed with.
    pub fn effective_scope(&self) -> u8 {
        self.scope.unwrap_or(if self.gateway.is_some() { SCOPE_UNIVERSE } else { SCOPE_LINK })
    }

    fn validate(&self) -> Result<()> {
        if let Some(gw) = self.gateway {
            if gw.is_ipv4() != self.dst.is_ipv4() {
                return Err(Error::invalid("route", self, "gateway and destination differ in address family"));
            }
        }
        Ok(())
    }

    fn message(&self, scope: u8) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: if self.dst.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 },
            destination_prefix_length: self.dst.len(),
            table: if self.table < 256 { self.table as u8 } else { 252 }, // RT_TABLE_COMPAT
            protocol: RouteProtocol::from(self.protocol),
            scope: RouteScope::from(scope),
            kind: RouteType::from(self.kind),
            flags: if self.onlink { RouteFlags::Onlink } else { RouteFlags::empty() },
            ..Default::default()
        };
        if self.dst.len() > 0 {
            m.attributes.push(RouteAttribute::Destination(route_addr(self.dst.network().addr())));
        }
        if let Some(gw) = self.gateway {
            m.attributes.push(RouteAttribute::Gateway(route_addr(gw)));
        }
        if let Some(oif) = self.oif {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        if let Some(p) = self.priority {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        m.attributes.push(RouteAttribute::Table(self.table));
        m
    }

    fn from_message(m: RouteMessage) -> Option<Route> {
        let h = &m.header;
        let mut dst = None;
        let mut r = Route {
            dst: IpPrefix::host(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            gateway: None,
            oif: None,
            table: u32::from(h.table),
            protocol: u8::from(h.protocol),
            scope: Some(u8::from(h.scope)),
            kind: u8::from(h.kind),
            priority: None,
            onlink: h.flags.contains(RouteFlags::Onlink),
        };
        for a in m.attributes {
            match a {
                RouteAttribute::Destination(a) => dst = ip_of(a),
                RouteAttribute::Gateway(a) => r.gateway = ip_of(a),
                RouteAttribute::Oif(i) => r.oif = Some(i),
                RouteAttribute::Table(t) => r.table = t,
                RouteAttribute::Priority(p) => r.priority = Some(p),
                _ => {}
            }
        }
        let any = match h.address_family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        };
        r.dst = IpPrefix::new(dst.unwrap_or(any), h.destination_prefix_length).ok()?;
        Some(r)
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev ifindex {oif}")?;
        }
        if self.table != TABLE_MAIN {
            write!(f, " table {}", self.table)?;
        }
        Ok(())
    }
}

fn route_addr(ip: IpAddr) -> RouteAddress {
    match ip {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

fn ip_of(a: RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(a)),
        _ => None,
    }
}

/// Which routes [`Handle::routes`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteFilter {
    /// Only IPv4 (`Some(true)`) or only IPv6 (`Some(false)`).
    pub ipv4: Option<bool>,
    /// Only this table; `None` lists the main table.
    pub table: Option<u32>,
    /// Only routes out of this interface.
    pub oif: Option<u32>,
    /// Only routes of this protocol (`ip route show proto N`).
    pub protocol: Option<u8>,
}

crate::setters::setters!(RouteFilter { ipv4: Option<bool>, table: Option<u32>, oif: Option<u32>, protocol: Option<u8> });

impl Handle {
    /// `ip route add ROUTE`: fails with `AlreadyExists` if an identical
    /// route is there (`NLM_F_EXCL`).
    pub fn route_add(&self, route: &Route) -> Result<()> {
        self.route_new(route, NLM_F_CREATE | NLM_F_EXCL, "")
    }

    /// `ip route replace ROUTE`: adds, or replaces the route to the same
    /// destination in the same table.
    pub fn route_replace(&self, route: &Route) -> Result<()> {
        self.route_new(route, NLM_F_CREATE | NLM_F_REPLACE, "replace ")
    }

    fn route_new(&self, route: &Route, flags: u16, verb: &str) -> Result<()> {
        route.validate()?;
        self.ack(
            "RTM_NEWROUTE",
            || format!("{verb}{route} in {}", self.netns()),
            Rt::NewRoute(route.message(route.effective_scope())),
            flags,
        )
    }

    /// `ip route del ROUTE`: `NotFound` (ESRCH) if no route matches. Like
    /// iproute2 it sends scope `nowhere` so a route of any scope matches.
    pub fn route_del(&self, route: &Route) -> Result<()> {
        route.validate()?;
        let mut m = route.message(255);
        m.header.protocol = RouteProtocol::Unspec;
        self.ack("RTM_DELROUTE", || format!("{route} in {}", self.netns()), Rt::DelRoute(m), 0)
    }

    /// `ip route get fibmatch IP`: the routing-table entry the kernel would
    /// use for `ip` (`RTM_F_FIB_MATCH`), one lookup whatever the table size.
    /// When nothing routes it the kernel answers `ENETUNREACH`
    /// ([`Error::is_unreachable`]).
    pub fn route_get_fibmatch(&self, ip: IpAddr) -> Result<Route> {
        let mut m = RouteMessage::default();
        m.header.address_family = if ip.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        m.header.destination_prefix_length = if ip.is_ipv4() { 32 } else { 128 };
        m.header.flags = RouteFlags::FibMatch;
        m.attributes.push(RouteAttribute::Destination(route_addr(ip)));
        let r = self.get("RTM_GETROUTE", || format!("fibmatch {ip} in {}", self.netns()), Rt::GetRoute(m))?;
        match r {
            Rt::NewRoute(m) => Route::from_message(m)
                .ok_or_else(|| Error::Protocol { op: "RTM_GETROUTE", detail: "route of unknown family".into() }),
            _ => Err(Error::Protocol { op: "RTM_GETROUTE", detail: "a reply that is not RTM_NEWROUTE".into() }),
        }
    }

    /// `ip route show [table T] [dev D]` for one or both families. Only
    /// unicast routes of the chosen table are returned, as `ip route show`
    /// lists them.
    pub fn routes(&self, filter: RouteFilter) -> Result<Vec<Route>> {
        let families: &[AddressFamily] = match filter.ipv4 {
            Some(true) => &[AddressFamily::Inet],
            Some(false) => &[AddressFamily::Inet6],
            None => &[AddressFamily::Inet, AddressFamily::Inet6],
        };
        let table = filter.table.unwrap_or(TABLE_MAIN);
        let mut out = Vec::new();
        for fam in families {
            let mut m = RouteMessage::default();
            m.header.address_family = *fam;
            // With NETLINK_GET_STRICT_CHK the kernel filters by table.
            m.header.table = if table < 256 { table as u8 } else { 0 };
            if table >= 256 {
                m.attributes.push(RouteAttribute::Table(table));
            }
            // ... and by protocol (`ip_valid_fib_dump_req()`).
            if let Some(p) = filter.protocol {
                m.header.protocol = RouteProtocol::from(p);
            }
            let v = match self.dump(
                "RTM_GETROUTE",
                || format!("dump table {table} in {}", self.netns()),
                Rt::GetRoute(m),
            ) {
                Ok(v) => v,
                // A table that has no route of this family does not exist
                // yet ("FIB table does not exist"): it lists as empty.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            for r in v {
                let Rt::NewRoute(m) = r else { continue };
                let Some(r) = Route::from_message(m) else { continue };
                if r.table == table
                    && r.kind == RTN_UNICAST
                    && filter.oif.is_none_or(|o| r.oif == Some(o))
                    && filter.protocol.is_none_or(|p| r.protocol == p)
                {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}
