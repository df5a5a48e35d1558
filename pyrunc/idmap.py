"""User namespace id maps: their text, and writing them for a new container's init.

Root (on the host, or the root of a user namespace that holds the ids) writes any map itself.
An unprivileged caller (rootless) writes a map of its own single id itself, after denying
setgroups as the kernel requires; any other map goes through the setuid helpers newuidmap and
newgidmap, which check /etc/subuid and /etc/subgid.
"""

import os

from .errors import PyruncError
from .fdutil import write_file


def text(maps):
    """IdMapping entries as the lines of /proc/<pid>/uid_map."""
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps or ())


def own_single(maps, own_id):
    return len(maps) == 1 and maps[0].host_id == own_id and maps[0].size == 1


def groups_denied(gid_maps):
    """Is the gid map written by pyrunc itself without privilege (then setgroups is denied
    in the container)?  Root writes any map its own namespace holds."""
    return os.geteuid() != 0 and own_single(gid_maps or [], os.getegid())


def write(pid, uid_maps, gid_maps):
    """Write the maps of process pid's new user namespace."""
    if os.geteuid() == 0:
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            write_file(f"/proc/{pid}/{name}", text(maps), f"write {name} of the container")
        return
    for name, maps, own, helper in (("uid_map", uid_maps, os.geteuid(), "newuidmap"),
                                    ("gid_map", gid_maps, os.getegid(), "newgidmap")):
        if own_single(maps, own):
            if name == "gid_map":
                write_file(f"/proc/{pid}/setgroups", "deny", "rootless: deny setgroups")
            write_file(f"/proc/{pid}/{name}", text(maps), f"rootless: write {name}")
            continue
        _helper(helper, pid, maps, "uidMappings" if name == "uid_map" else "gidMappings")


def _helper(helper, pid, maps, key):
    import shutil
    import subprocess
    path = shutil.which(helper, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise PyruncError(f"rootless: linux.{key} maps more than your own id: this needs {helper} "
                          "(Debian package uidmap) and a range in /etc/sub{'u' if key[0] == 'u' else 'g'}id")
    args = [path, str(pid)]
    for m in maps:
        args += [str(m.container_id), str(m.host_id), str(m.size)]
    cp = subprocess.run(args, capture_output=True, text=True, close_fds=True)
    if cp.returncode != 0:
        msg = (cp.stderr.strip().splitlines() or [f"exit status {cp.returncode}"])[-1]
        raise PyruncError(f"rootless: {helper} {' '.join(args[2:])}: {msg}")
