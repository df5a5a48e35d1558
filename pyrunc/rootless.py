"""Rootless containers: pyrunc run by a user without privileges (or --rootless true).

What changes, as under runc:
- the container needs a new user namespace: its root is the calling user (or, through
  newuidmap/newgidmap and /etc/subuid, /etc/subgid, a range of ids delegated to it);
- the id maps: one id mapped to the caller's own euid/egid is written directly by pyrunc
  (after "deny" to setgroups, which the kernel requires of an unprivileged writer, so the
  container cannot change its supplementary groups); any other mapping goes through the
  setuid helpers newuidmap/newgidmap, which check /etc/subuid and /etc/subgid;
- cgroups: a hierarchy the user cannot write to is skipped (the container runs without a
  cgroup there) when the config sets no resources, and is an error when it does;
- the state lives under $XDG_RUNTIME_DIR/pyrunc (cli.default_root);
- idmapped mounts are refused (the kernel requires privilege over the filesystem).
"""

import os

from .errors import PyruncError
from .launch import id_map_text, write_file
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


def check(cfg, ns):
    where = "config.json"
    if ns.get("user") != "":
        raise PyruncError(f"{where}: a rootless container needs a new user namespace "
                          "(linux.namespaces with type user, and uid/gid mappings)")
    for i, m in enumerate(cfg.get("mounts") or ()):
        opts = m.get("options") or ()
        if "idmap" in opts or "ridmap" in opts or m.get("uidMappings") or m.get("gidMappings"):
            raise PyruncError(f"{where}: mounts[{i}]: id-mapped mounts are not supported for rootless containers")
    linux = cfg.get("linux") or {}
    if groups_denied(linux) and (cfg["process"]["user"].get("additionalGids")):
        raise PyruncError(f"{where}: process.user.additionalGids need setgroups, which a rootless container "
                          "with a single-id gid mapping does not have: map a range with newgidmap (/etc/subgid)")


def _own(maps, own_id):
    return len(maps) == 1 and maps[0]["hostID"] == own_id and maps[0]["size"] == 1


def groups_denied(linux):
    """Is the gid map written by pyrunc itself without privilege (then setgroups is denied
    in the container)?  Root (--rootless true, or root of a user namespace) writes any map
    its own namespace holds, as without rootless."""
    return os.geteuid() != 0 and _own(linux.get("gidMappings") or [], os.getegid())


def write_id_maps(pid, linux):
    if os.geteuid() == 0:
        from .launch import write_id_maps as write_privileged
        write_privileged(pid, {"linux": linux})
        return
    for name, key, own, helper in (("uid_map", "uidMappings", os.geteuid(), "newuidmap"),
                                   ("gid_map", "gidMappings", os.getegid(), "newgidmap")):
        maps = linux.get(key) or []
        if _own(maps, own):
            if name == "gid_map":
                write_file(f"/proc/{pid}/setgroups", "deny", "rootless: deny setgroups")
            write_file(f"/proc/{pid}/{name}", id_map_text(maps), f"rootless: write {name}")
            continue
        _helper(helper, pid, maps, key)


def _helper(helper, pid, maps, key):
    import shutil
    import subprocess
    path = shutil.which(helper, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise PyruncError(f"rootless: linux.{key} maps more than your own id: this needs {helper} "
                          "(Debian package uidmap) and a range in /etc/sub{'u' if key[0] == 'u' else 'g'}id")
    args = [path, str(pid)]
    for m in maps:
        args += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    cp = subprocess.run(args, capture_output=True, text=True, close_fds=True)
    if cp.returncode != 0:
        msg = (cp.stderr.strip().splitlines() or [f"exit status {cp.returncode}"])[-1]
        raise PyruncError(f"rootless: {helper} {' '.join(args[2:])}: {msg}")


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
