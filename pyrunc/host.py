"""What pyrunc needs to know about the host, probed once per call and only when asked.

The compiler (compiler.py) reads the host only through this object, so a test can give it a
`Host` with fixed answers and compile a plan on any machine.  Each fact is computed on first
use and kept: a command that asks for the cgroup hierarchies several times reads mountinfo
once, and a command that never asks pays nothing.
"""

import os

from .errors import ConfigError


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
        from .cgroups.hierarchy import probe
        return self._get("cgroup_hierarchies", probe)

    @property
    def cgroup_layout(self):
        from .cgroups.hierarchy import layout
        return layout(self.cgroup_hierarchies)

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
