"""What pyrunc needs to know about the host, probed once per call and only when asked.

Among the facts: the mounted cgroup hierarchies (v1 controllers, named v1 hierarchies, the
cgroup2 mount), which the cgroup managers place a container's cgroup in.

The compiler (compiler.py) reads the host only through this object, so a test can give it a
`Host` with fixed answers and compile a plan on any machine.  Each fact is computed on first
use and kept: a command that asks for the cgroup hierarchies several times reads mountinfo
once, and a command that never asks pays nothing.
"""

import os

from .errors import ConfigError

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                  "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc")


class Hierarchy:
    __slots__ = ("key", "mountpoint", "mountroot", "version", "controllers")

    def __init__(self, key, mountpoint, mountroot, version, controllers):
        self.key, self.mountpoint, self.mountroot = key, mountpoint, mountroot
        self.version, self.controllers = version, controllers

    def __repr__(self):
        return f"Hierarchy({self.key!r}, {self.mountpoint!r}, v{self.version})"


def probe_cgroups(mountinfo="/proc/self/mountinfo"):
    """The mounted cgroup hierarchies, first mount of each, keyed by controller or name
    ("unified" for the cgroup2 mount)."""
    found = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rf = right.split()
            if len(rf) < 3 or rf[0] not in ("cgroup", "cgroup2"):
                continue
            lf = left.split()
            root, mnt = lf[3], lf[4]
            if "\\" in root or "\\" in mnt:  # octal escapes (rare): decode them
                from .mountinfo import unescape
                root, mnt = unescape(root), unescape(mnt)
            if rf[0] == "cgroup2":
                key, ctrls = "unified", []
                try:
                    with open(os.path.join(mnt, "cgroup.controllers")) as c:
                        ctrls = c.read().split()
                except OSError:
                    pass
                h = Hierarchy(key, mnt, root, 2, ctrls)
            else:
                opts = rf[2].split(",")
                ctrls = [o for o in opts if o in V1_CONTROLLERS or o.startswith("name=")]
                if not ctrls:
                    continue
                key = ctrls[0][5:] if ctrls[0].startswith("name=") else ctrls[0]
                h = Hierarchy(key, mnt, root, 1, ctrls)
            found.setdefault(h.key, h)
    return list(found.values())


def layout(hs):
    v1 = any(h.version == 1 for h in hs)
    v2 = any(h.version == 2 for h in hs)
    return "hybrid" if v1 and v2 else ("v1" if v1 else ("v2" if v2 else "none"))


def own_cgroups(path="/proc/self/cgroup"):
    """{controller or name or '' (v2): path} of the calling process."""
    out = {}
    with open(path) as f:
        for line in f:
            _, ctrls, p = line.rstrip("\n").split(":", 2)
            if ctrls == "":
                out[""] = p
            for c in ctrls.split(","):
                out[c[5:] if c.startswith("name=") else c] = p
    return out


class Host:
    """Facts of the machine; pass values to the constructor to fix them (tests)."""

    def __init__(self, **fixed):
        self._cache = dict(fixed)

    def _get(self, name, probe):
        try:
            return self._cache[name]
        except KeyError:
            v = self._cache[name] = probe()
            return v

    @property
    def cgroup_hierarchies(self):
        return self._get("cgroup_hierarchies", probe_cgroups)

    @property
    def cgroup_layout(self):
        return layout(self.cgroup_hierarchies)

    @property
    def in_user_ns(self):
        """Does pyrunc itself run in a user namespace other than the initial one (rootless
        podman runs it as root of one)?"""
        def probe():
            try:
                with open("/proc/self/uid_map") as f:
                    return f.read().split() != ["0", "0", "4294967295"]
            except OSError:
                return False
        return self._get("in_user_ns", probe)

    @property
    def has_kcore(self):
        return self._get("has_kcore", lambda: os.path.exists("/proc/kcore"))

    @property
    def apparmor_enabled(self):
        from .lsm import apparmor_enabled
        return self._get("apparmor_enabled", apparmor_enabled)

    @property
    def selinux_enabled(self):
        from .lsm import selinux_enabled
        return self._get("selinux_enabled", selinux_enabled)

    @property
    def apparmor_attr(self):
        """The attr file that sets the AppArmor profile of the next execve (AppArmor's own
        directory where the kernel stacks LSMs)."""
        return self._get("apparmor_attr", lambda: "apparmor/exec" if os.path.isdir("/proc/self/attr/apparmor")
                         else "exec")

    def path_kind(self, path, field):
        """'d' for a directory, 'f' for anything else (a bind source)."""
        kinds = self._cache.setdefault("path_kinds", {})
        if path not in kinds:
            import stat
            try:
                st = os.stat(path)
            except OSError as e:
                raise ConfigError(f"bind source {path}: {e.strerror}", field=field, source="config.json")
            kinds[path] = "d" if stat.S_ISDIR(st.st_mode) else "f"
        return kinds[path]


_host = None


def host():
    """This call's Host."""
    global _host
    if _host is None:
        _host = Host()
    return _host
