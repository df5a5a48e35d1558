"""linux.netDevices (runtime-spec 1.3, runc 1.3): interfaces of the runtime's network namespace
moved into the container's, as create's host-side step once the init's namespace exists.

For each device, as the spec and runc do it: set it down; note its permanent addresses of
global scope (the kernel drops every address on a move); move it with its new name in one
RTM_NEWLINK (IFLA_NET_NS_FD with IFLA_IFNAME, so the name never clashes on the host; a name
ending in %d is a template the kernel completes); put those addresses back inside; set it up.
Nothing moves them back: when the namespace goes, the kernel returns physical devices to the
initial namespace and destroys virtual ones (the spec forbids the runtime to do it).

Netlink goes through pyroute2, imported only here, for a config with netDevices (its import
costs ~150 ms).
"""

import os

from .errors import ConfigError, PyruncError

FIELD = "linux.netDevices"
IFNAMSIZ = 16
IFA_F_PERMANENT = 0x80
RT_SCOPE_UNIVERSE = 0


def valid_name(name):
    """The kernel's dev_valid_name: 1 to 15 bytes, not . or .., no /, : or whitespace."""
    return (isinstance(name, str) and 0 < len(name.encode()) < IFNAMSIZ and name not in (".", "..")
            and not any(c in "/:" or c.isspace() for c in name))


def check(doc, namespaces):
    """{host name: name inside} of a config's linux.netDevices (empty: none)."""
    if not doc:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError("must be an object of host device names", field=FIELD, source="config.json")
    if "network" not in namespaces:
        raise ConfigError("needs a network namespace (linux.namespaces type network): devices cannot "
                          "be moved into the runtime's own", field=FIELD, source="config.json", subject=True)
    out = {}
    for host, dev in doc.items():
        if not valid_name(host):
            raise ConfigError(f"invalid network device name {host!r}", field=FIELD, source="config.json")
        if dev is None:
            dev = {}
        if not isinstance(dev, dict):
            raise ConfigError(f"{host}: want an object", field=FIELD, source="config.json")
        name = dev.get("name") or host
        if not valid_name(name):
            raise ConfigError(f"invalid network device name {name!r}", field=f"{FIELD}.{host}.name",
                              source="config.json")
        if name in out.values() and "%" not in name:
            raise ConfigError(f"two devices would be named {name!r} in the container", field=FIELD,
                              source="config.json")
        out[host] = name
    return out


def _netlink():
    try:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
    except ImportError:
        raise PyruncError(f"{FIELD} needs the pyroute2 package (pip install pyroute2)")
    return IPRoute, NetlinkError


def move(devices, pid):
    """Move {host name: name inside} into the network namespace of process pid.  Every device
    is checked first (it exists here, its name is free there), so that a refused config moves
    none (the kernel would move a device and then fail to rename it)."""
    import errno
    IPRoute, NetlinkError = _netlink()
    ns_path = f"/proc/{pid}/ns/net"
    ns_fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as host, IPRoute(netns=ns_path) as inner:
            links = {}
            for name, new in devices.items():
                found = host.link_lookup(ifname=name)
                if not found:
                    raise PyruncError(f"{FIELD}: {name}: no such network device in the runtime's network namespace")
                if "%" not in new and inner.link_lookup(ifname=new):
                    raise PyruncError(f"{FIELD}: {name}: a network device named {new!r} exists in the container's "
                                      "network namespace")
                links[name] = found[0]
            for name, new in devices.items():
                where = f"{FIELD}: {name}"
                index = links[name]
                mac = host.get_links(index)[0].get_attr("IFLA_ADDRESS")
                try:
                    host.link("set", index=index, state="down")
                    keep = [(a["family"], a.get_attr("IFA_ADDRESS") or a.get_attr("IFA_LOCAL"), a["prefixlen"])
                            for a in host.get_addr(index=index)
                            if (a.get_attr("IFA_FLAGS") or a["flags"]) & IFA_F_PERMANENT
                            and a["scope"] == RT_SCOPE_UNIVERSE]
                    host.link("set", index=index, net_ns_fd=ns_fd, ifname=new)
                except NetlinkError as e:
                    if e.code == errno.EEXIST:
                        raise PyruncError(f"{where}: a network device named {new!r} exists in the container's "
                                          "network namespace") from None
                    raise PyruncError(f"{where}: cannot move it to the container: {os.strerror(e.code)}") from None
                _inside(inner, NetlinkError, where, new, mac, keep)
    finally:
        os.close(ns_fd)


def _inside(inner, NetlinkError, where, new, mac, keep):
    """In the container's namespace: the moved device's addresses back, and up."""
    if "%" in new:  # the kernel chose the name: the link with the device's hardware address
        found = [l["index"] for l in inner.get_links() if mac and l.get_attr("IFLA_ADDRESS") == mac]
    else:
        found = inner.link_lookup(ifname=new)
    if len(found) != 1:
        raise PyruncError(f"{where}: moved, but not found in the container as {new!r}")
    index = found[0]
    try:
        for family, address, prefixlen in keep:
            inner.addr("add", index=index, family=family, address=address, prefixlen=prefixlen)
        inner.link("set", index=index, state="up")
    except NetlinkError as e:
        raise PyruncError(f"{where}: in the container: {os.strerror(e.code)}") from None
