"""Rootless containers: pyrunc run by a user without privileges (or --rootless true).

What changes, as under runc:
- the container needs a new user namespace: its root is the calling user (or, through
  newuidmap/newgidmap and /etc/subuid, /etc/subgid, a range of ids delegated to it);
- the id maps (idmap.py): one id mapped to the caller's own euid/egid is written directly by
  pyrunc (after "deny" to setgroups, which the kernel requires of an unprivileged writer, so
  the container cannot change its supplementary groups); any other mapping goes through the
  setuid helpers newuidmap/newgidmap, which check /etc/subuid and /etc/subgid;
- cgroups: a hierarchy the user cannot write to is skipped (the container runs without a
  cgroup there) when the config sets no resources, and is an error when it does;
- the state lives under $XDG_RUNTIME_DIR/pyrunc (cli.default_root);
- idmapped mounts are refused (the kernel requires privilege over the filesystem).
"""

import os

from .errors import ConfigError, PyruncError
from .log import log


def is_rootless(mode):
    """--rootless true/false/auto; auto: not root, or root of a user namespace that is not
    the initial one (runc's rule)."""
    if mode == "true":
        return True
    if mode == "false":
        return False
    if os.geteuid() != 0:
        return True
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def check(spec):
    # root of a user namespace (rootless podman runs the runtime so, in the namespace it
    # made for its containers) may keep it, as runc allows; a user without privileges may not
    if os.geteuid() != 0 and not spec.new_ns("user"):
        raise ConfigError("a rootless container needs a new user namespace "
                          "(linux.namespaces with type user, and uid/gid mappings)", source="config.json")
    if spec.net_devices:
        raise ConfigError("network devices are not supported for rootless containers", field="linux.netDevices",
                          source="config.json")
    for m in spec.mounts:
        if m.idmapped():
            raise ConfigError("id-mapped mounts are not supported for rootless containers",
                              field=m.field, source="config.json")
    from .idmap import groups_denied
    if groups_denied(spec.gid_mappings) and spec.process.user.additional_gids:
        raise ConfigError("process.user.additionalGids need setgroups, which a rootless container "
                          "with a single-id gid mapping does not have: map a range with newgidmap (/etc/subgid)",
                          source="config.json")


def usable_cgroups(paths, resources):
    """The cgroup paths this user can make or write; without resources the others are left
    out (said in the debug log), with resources they are an error."""
    ok = {}
    for key, path in paths.items():
        probe = path
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        if os.access(probe, os.W_OK):
            ok[key] = path
        elif resources:
            raise PyruncError(f"rootless: linux.resources needs cgroup {path}, which this user cannot write")
        else:
            log.debug(f"rootless: cgroup {path} is not writable: the container runs without it")
    return ok
