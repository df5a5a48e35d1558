"""Idmapped bind mounts (options idmap/ridmap, or a mount's own uid/gidMappings).

Made by pyrunc as root on the host (the container's init, in its own user namespace, is not
privileged over the filesystem): a user namespace with the maps, and a detached bind tree
idmapped with it (open_tree + mount_setattr MOUNT_ATTR_IDMAP), whose fd is passed to the
executor, which only moves it into place.  Without mappings of its own the mount takes the
container's (a new user namespace's maps, or the joined one), as runc.
"""

import os

from . import mountopts as mo
from .errors import ConfigError


def plain_tree(m, spec, low):
    """The fd (>= low, inheritable) of mount m's bind tree, opened as root on the host (a
    container in a new user namespace may not reach a root-only source itself)."""
    from ._native import lib
    from .fdutil import inheritable_at
    src = m.source if m.source.startswith("/") else os.path.join(spec.bundle, m.source)
    fd = lib.pyrunc_open_tree(src.encode(), 1 if m.parsed.flags & mo.MS_REC else 0)
    if fd < 0:
        raise ConfigError(f"bind source {src}: {os.strerror(-fd)}", field=m.field, source="config.json")
    return inheritable_at(fd, low)


def idmapped_tree(m, spec, low):
    """The fd (>= low, inheritable) of mount m's idmapped tree."""
    from ._native import lib
    from .fdutil import inheritable_at
    from .idmap import text
    where = m.field

    def bad(msg):
        return ConfigError(msg, field=where, source="config.json")
    src = m.source if m.source.startswith("/") else os.path.join(spec.bundle, m.source)
    if m.uid_mappings or m.gid_mappings:
        if not m.uid_mappings or not m.gid_mappings:
            raise bad("an id-mapped mount needs both uidMappings and gidMappings")
        userns = lib.pyrunc_userns_fd(text(m.uid_mappings).encode(), text(m.gid_mappings).encode())
    elif spec.new_ns("user"):
        userns = lib.pyrunc_userns_fd(text(spec.uid_mappings).encode(), text(spec.gid_mappings).encode())
    elif spec.namespaces.get("user"):
        try:
            userns = os.open(spec.namespaces["user"], os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise bad(f"open the user namespace {spec.namespaces['user']}: {e.strerror}")
    else:
        raise bad("option idmap without uidMappings/gidMappings needs a user namespace")
    if userns < 0:
        raise bad(f"make the user namespace of the id mapping: {os.strerror(-userns)}")
    try:
        fd = lib.pyrunc_idmapped_tree(src.encode(), userns, 1 if m.parsed.flags & mo.MS_REC else 0,
                                      1 if m.parsed.idmap == mo.IDMAP["ridmap"] else 0)
    finally:
        os.close(userns)
    if fd < 0:
        raise bad(f"id-mapped mount of {src}: {os.strerror(-fd)}")
    return inheritable_at(fd, low)
