"""The exception hierarchy: every class with a real kernel error behind it,
and the one mapping table through its test hook."""

from __future__ import annotations

import errno
from typing import Callable

import pytest

import floatip
from floatip import _floatip
from netlab import Lab

def exception_for(variant: str, errno: int = 0) -> floatip.FloatipError:
    """The test hook (cargo feature ``test-hooks``, not in the wheel): the
    exception the mapping table gives an error variant."""
    hook: Callable[[str, int], floatip.FloatipError] = getattr(_floatip, "_exception_for")
    return hook(variant, errno)


# The table as documented in docs/python.md: class -> standard bases.
HIERARCHY = {
    floatip.FloatipError: (OSError,),
    floatip.NotFoundError: (floatip.FloatipError, FileNotFoundError),
    floatip.AlreadyExistsError: (floatip.FloatipError, FileExistsError),
    floatip.PermissionDeniedError: (floatip.FloatipError, PermissionError),
    floatip.KernelTimeoutError: (floatip.FloatipError, TimeoutError),
    floatip.NotSupportedError: (floatip.FloatipError,),
    floatip.ConflictError: (floatip.FloatipError,),
    floatip.InvalidArgumentError: (floatip.FloatipError, ValueError),
}


def test_hierarchy() -> None:
    for cls, bases in HIERARCHY.items():
        assert cls.__bases__ == bases, cls
        assert issubclass(cls, OSError)
        assert cls.__module__ == "floatip"
        assert cls.__doc__
    assert not issubclass(floatip.ConflictError, FileExistsError), "a conflict is not 'already done'"
    e = floatip.FloatipError(errno.EIO, "made by user code")
    assert (e.errno, e.strerror, e.op, e.ext_ack) == (errno.EIO, "made by user code", "", None)


@pytest.mark.parametrize(
    ("variant", "code", "cls", "expected_errno"),
    [
        ("netlink", errno.ENOENT, floatip.NotFoundError, errno.ENOENT),
        ("netlink", errno.ENODEV, floatip.NotFoundError, errno.ENODEV),
        ("netlink", errno.ESRCH, floatip.NotFoundError, errno.ESRCH),
        ("netlink", errno.EADDRNOTAVAIL, floatip.NotFoundError, errno.EADDRNOTAVAIL),
        ("netlink", errno.EEXIST, floatip.AlreadyExistsError, errno.EEXIST),
        ("netlink", errno.EPERM, floatip.PermissionDeniedError, errno.EPERM),
        ("io", errno.EACCES, floatip.PermissionDeniedError, errno.EACCES),
        ("netlink", errno.EOPNOTSUPP, floatip.NotSupportedError, errno.EOPNOTSUPP),
        ("netlink", errno.EINVAL, floatip.InvalidArgumentError, errno.EINVAL),
        ("netlink", errno.ETIMEDOUT, floatip.KernelTimeoutError, errno.ETIMEDOUT),
        ("netlink", errno.EBUSY, floatip.FloatipError, errno.EBUSY),
        ("io", errno.EIO, floatip.FloatipError, errno.EIO),
        ("invalid", 0, floatip.InvalidArgumentError, errno.EINVAL),
        ("timeout", 0, floatip.KernelTimeoutError, errno.ETIMEDOUT),
        ("conflict", 0, floatip.ConflictError, errno.EEXIST),
        ("protocol", 0, floatip.FloatipError, errno.EPROTO),
    ],
)
def test_mapping_table(variant: str, code: int, cls: type[floatip.FloatipError], expected_errno: int) -> None:
    e = exception_for(variant, code)
    assert type(e) is cls
    assert e.errno == expected_errno
    assert isinstance(e.strerror, str) and e.strerror
    assert e.op
    if variant == "netlink":
        assert e.ext_ack == "extended ack text"
        assert "(kernel: extended ack text)" in str(e)
    else:
        assert e.ext_ack is None


def test_not_found_from_the_kernel(lab: Lab) -> None:
    t = lab.ns("enoent")
    with t.handle() as h:
        with pytest.raises(FileNotFoundError) as e:
            h.route_del(floatip.Route("10.9.9.0/24", oif=1))
        assert type(e.value) is floatip.NotFoundError
        assert e.value.errno == errno.ESRCH and e.value.op == "RTM_DELROUTE"
        assert "10.9.9.0/24" in str(e.value)
        with pytest.raises(floatip.NotFoundError) as e2:
            h.link_get("nosuch0")
        assert e2.value.errno == errno.ENODEV and e2.value.op == "RTM_GETLINK"
        with pytest.raises(floatip.NotFoundError):
            h.neigh_proxy_del("lo", "10.0.0.1")
        with pytest.raises(floatip.NotFoundError):
            h.addr_del("lo", "10.9.9.9/32")


def test_already_exists_from_the_kernel(lab: Lab) -> None:
    t = lab.ns("eexist")
    with t.handle() as h:
        h.addr_add("lo", "10.9.9.9/32")
        with pytest.raises(FileExistsError) as e:
            h.addr_add("lo", "10.9.9.9/32")
        assert type(e.value) is floatip.AlreadyExistsError
        assert e.value.errno == errno.EEXIST and e.value.op == "RTM_NEWADDR"
        h.veth_add("v0", "v1")
        with pytest.raises(floatip.AlreadyExistsError):
            h.veth_add("v0", "v2")


def test_not_supported_from_the_kernel(lab: Lab) -> None:
    """This kernel has no 8021q: VLANs are refused with the kernel's text."""
    t = lab.ns("eopnotsupp")
    with t.handle() as h:
        h.veth_add("v0", "v1")
        with pytest.raises(floatip.NotSupportedError) as e:
            h.vlan_add("v0.100", "v0", 100)
        assert e.value.errno == errno.EOPNOTSUPP
        assert e.value.ext_ack == "Unknown device type"
        assert "v0.100" not in t.link_names()


def test_vlan_attach_is_not_supported_here_and_changes_nothing(lab: Lab) -> None:
    lan = lab.lan("vlan")
    pod = lab.ns("vlan-pod")
    before = lan.host_a.ip("-d", "link", "show") + lan.host_a.ip("route", "show") + pod.ip("link", "show")
    fip = floatip.FloatingIp(
        "default/v", "up0", host_netns=lan.host_a.ns, pod_netns_name=pod.name, ipv4=("10.0.0.130/23", "10.0.0.1"),
        vlan=100,
    )
    assert fip.lan_ifname == "up0.100"
    # A VLAN device floatip would make has no address: refused first.
    with pytest.raises(floatip.InvalidArgumentError, match="lan_address"):
        fip.attach()
    fip = floatip.FloatingIp(
        "default/v", "up0", host_netns=lan.host_a.ns, pod_netns_name=pod.name, ipv4=("10.0.0.130/23", "10.0.0.1"),
        vlan=100, lan_address="10.0.0.4/23",
    )
    assert fip.lan_address == "10.0.0.4/23"
    with pytest.raises(floatip.NotSupportedError) as e:
        fip.attach()
    assert e.value.ext_ack == "Unknown device type"
    after = lan.host_a.ip("-d", "link", "show") + lan.host_a.ip("route", "show") + pod.ip("link", "show")
    assert after == before


def test_permission_denied_from_the_kernel(lab: Lab) -> None:
    """Writing a read-only sysctl is refused even to root (EACCES)."""
    t = lab.ns("eacces")
    with pytest.raises(PermissionError) as e:
        t.ns.sysctl_set("net.ipv4.tcp_available_congestion_control", "reno")
    assert type(e.value) is floatip.PermissionDeniedError
    assert e.value.errno == errno.EACCES and e.value.op == "write sysctl"


def test_invalid_argument_from_the_kernel(lab: Lab) -> None:
    t = lab.ns("einval")
    with t.handle() as h:
        h.veth_add("v0", "v1")
        with pytest.raises(ValueError) as e:
            h.link_set_mtu("v0", 10)
        assert type(e.value) is floatip.InvalidArgumentError
        assert e.value.errno == errno.EINVAL and e.value.op == "RTM_SETLINK"
        assert e.value.ext_ack, "the kernel explains an MTU below the minimum"
        assert t.ip_json("link", "show", "v0")[0]["mtu"] == 1500


def test_timeout_setting(lab: Lab) -> None:
    """A kernel that never answers cannot be staged here: netlink requests
    are handled synchronously inside sendto(), so even a 40 ms veth delete
    is answered before the receive starts waiting. KernelTimeoutError is
    covered by the mapping-table test; this checks the setting itself."""
    t = lab.ns("etimedout")
    with floatip.Handle(t.ns, timeout=0.001) as h:
        h.veth_add("v0", "p0")
        h.link_del("v0")  # slow in the kernel, but answered at once
        h.set_timeout(5.0)
        for bad in (0.0, -1.0, float("nan"), float("inf")):
            with pytest.raises(floatip.InvalidArgumentError):
                h.set_timeout(bad)


def test_conflict(lab: Lab) -> None:
    lan = lab.lan("conflict")
    pod = lab.ns("conflict-pod")
    with lan.host_a.handle() as h:
        h.veth_add("other0", "other1")
        h.link_set_up("other0")
        h.route_add(floatip.Route("10.0.0.100/32", oif=h.link_get("other0").index))
    before = lan.host_a.ip("route", "show") + lan.host_a.ip("link", "show")
    fip = floatip.FloatingIp(
        "default/c", "up0", host_netns=lan.host_a.ns, pod_netns_name=pod.name, ipv4=("10.0.0.100/23", "10.0.0.1")
    )
    with pytest.raises(floatip.ConflictError) as e:
        fip.attach()
    assert e.value.errno == errno.EEXIST and e.value.op == "check"
    assert "already routed" in str(e.value)
    assert lan.host_a.ip("route", "show") + lan.host_a.ip("link", "show") == before, "nothing changed"
    assert pod.link_names() == ["lo"]


def test_invalid_spec_raises_before_anything_changes(lab: Lab) -> None:
    lan = lab.lan("inval")
    pod = lab.ns("inval-pod")
    before = lan.host_a.ip("-d", "link", "show") + pod.ip("link", "show")
    bad_specs = [
        {"ipv4": ("10.0.0.100/23", "10.0.2.1")},  # gateway outside the prefix
        {"ipv4": ("10.0.0.1/23", "10.0.0.1")},  # ip == gateway
        {"ipv4": ("10.0.0.100/33", "10.0.0.1")},
        {"ipv4": ("2001:db8::5/64", "10.0.0.1")},
        {"ipv4": ("10.0.0.100/23",)},
        {"ipv4": ("10.0.0.100/23", "10.0.0.1"), "vlan": 4095},
        {"ipv4": ("10.0.0.100/23", "10.0.0.1"), "mtu": 20},
        {"ipv4": ("10.0.0.100/23", "10.0.0.1"), "host_ifname": "../x"},
        {"ipv4": ("10.0.0.100/23", "10.0.0.1"), "host_mac": "01:00:00:00:00:01"},
        {"ipv4": ("10.0.0.100/23", "10.0.0.1"), "uplink_arp": "blanket"},
        {"ipv4": ("10.0.0.100/23", "10.0.0.1"), "pod_netns_path": "/run/netns/x"},
        {},  # no address
    ]
    for extra in bad_specs:
        with pytest.raises(floatip.InvalidArgumentError) as e:
            floatip.FloatingIp(
                "default/x", "up0", host_netns=lan.host_a.ns, pod_netns_name=pod.name, **extra  # type: ignore[arg-type]
            )
        assert isinstance(e.value, ValueError) and e.value.errno == errno.EINVAL, extra
    with pytest.raises(TypeError):
        floatip.FloatingIp("k", "up0", pod_netns_name=pod.name, ipv4=("10.0.0.100/23", 167772161))  # type: ignore[arg-type]
    assert lan.host_a.ip("-d", "link", "show") + pod.ip("link", "show") == before
