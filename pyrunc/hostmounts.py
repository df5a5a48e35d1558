"""Mounts that a container without a mount namespace of its own leaves in the runtime's.

Without `mount` in linux.namespaces the container shares the runtime's mount namespace (as
under runc and crun): the config's mounts (proc, a tmpfs /dev, ...) are made there, inside
the rootfs, and stay when the container ends.  create notes which mounts were under the
rootfs before (by mount id), and delete (or a failed create) detaches every newer one.
"""

from .mountinfo import under


def detach_new(rootfs, before):
    """Detach the mounts under rootfs whose ids are not in `before`, deepest first (a lazy
    detach takes the mounts below it along).  Returns the mount points still there."""
    from ._native import lib
    keep = set(before)
    for _ in range(64):
        new = {i: mp for i, mp in under(rootfs).items() if i not in keep}
        if not new:
            return []
        for mp in sorted(set(new.values()), key=len, reverse=True):
            lib.pyrunc_detach_mount(mp.encode())
    return sorted(set(mp for i, mp in under(rootfs).items() if i not in keep))
