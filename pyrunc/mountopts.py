"""Mount options of config.json as mount(2) flags, mount_setattr(2) attributes and data."""

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS = 1, 2, 4, 8, 16
MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC, MS_NOSYMFOLLOW = 32, 64, 128, 256
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC, MS_SILENT = 1024, 2048, 4096, 8192, 16384, 32768
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_I_VERSION, MS_STRICTATIME, MS_LAZYTIME = 1 << 21, 1 << 23, 1 << 24, 1 << 25

A_RDONLY, A_NOSUID, A_NODEV, A_NOEXEC = 0x1, 0x2, 0x4, 0x8
A_ATIME_MASK, A_RELATIME, A_NOATIME, A_STRICTATIME = 0x70, 0x0, 0x10, 0x20
A_NODIRATIME, A_NOSYMFOLLOW = 0x80, 0x200000

# option -> (clear?, flag)
FLAGS = {
    "acl": (False, 1 << 16), "noacl": (True, 1 << 16),
    "async": (True, MS_SYNCHRONOUS), "atime": (True, MS_NOATIME), "bind": (False, MS_BIND),
    "defaults": (False, 0), "dev": (True, MS_NODEV), "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC), "exec": (True, MS_NOEXEC), "iversion": (False, MS_I_VERSION),
    "noiversion": (True, MS_I_VERSION), "lazytime": (False, MS_LAZYTIME),
    "nolazytime": (True, MS_LAZYTIME), "loud": (True, MS_SILENT), "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK), "noatime": (False, MS_NOATIME), "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME), "noexec": (False, MS_NOEXEC),
    "norelatime": (True, MS_RELATIME), "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID), "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC), "relatime": (False, MS_RELATIME),
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT), "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID), "symfollow": (True, MS_NOSYMFOLLOW), "sync": (False, MS_SYNCHRONOUS),
}

PROPAGATION = {
    "private": MS_PRIVATE, "shared": MS_SHARED, "slave": MS_SLAVE, "unbindable": MS_UNBINDABLE,
    "rprivate": MS_PRIVATE | MS_REC, "rshared": MS_SHARED | MS_REC,
    "rslave": MS_SLAVE | MS_REC, "runbindable": MS_UNBINDABLE | MS_REC,
}

# recursive attribute options: option -> (clear?, attribute)
RECURSIVE = {
    "rro": (False, A_RDONLY), "rrw": (True, A_RDONLY), "rnosuid": (False, A_NOSUID),
    "rsuid": (True, A_NOSUID), "rnodev": (False, A_NODEV), "rdev": (True, A_NODEV),
    "rnoexec": (False, A_NOEXEC), "rexec": (True, A_NOEXEC), "rnodiratime": (False, A_NODIRATIME),
    "rdiratime": (True, A_NODIRATIME), "rnosymfollow": (False, A_NOSYMFOLLOW),
    "rsymfollow": (True, A_NOSYMFOLLOW),
    "rrelatime": (False, A_RELATIME), "rnoatime": (False, A_NOATIME),
    "rstrictatime": (False, A_STRICTATIME), "rnorelatime": (True, A_RELATIME),
    "ratime": (True, A_NOATIME), "rnostrictatime": (True, A_STRICTATIME),
}
_ATIME_RECURSIVE = ("rrelatime", "rnoatime", "rstrictatime")

# mount(2) flag -> mount_setattr attribute, for bind mounts (applied to the new tree)
_TO_ATTR = [(MS_RDONLY, A_RDONLY), (MS_NOSUID, A_NOSUID), (MS_NODEV, A_NODEV),
            (MS_NOEXEC, A_NOEXEC), (MS_NODIRATIME, A_NODIRATIME), (MS_NOSYMFOLLOW, A_NOSYMFOLLOW)]

UNSUPPORTED = ("remount",)
IDMAP = {"idmap": 1, "ridmap": 2}  # idmapped bind mount: of the top mount, of every submount


class Parsed:
    __slots__ = ("flags", "cleared", "prop", "rset", "rclr", "data", "idmap", "copyup")


def parse(options, where):
    from .errors import ConfigError
    p = Parsed()
    p.flags = p.cleared = p.prop = p.rset = p.rclr = p.idmap = 0
    p.copyup = False
    data = []
    for o in options or ():
        if o in FLAGS:
            clear, f = FLAGS[o]
            if clear:
                p.flags &= ~f
                p.cleared |= f
            else:
                p.flags |= f
                p.cleared &= ~f
        elif o in PROPAGATION:
            p.prop = PROPAGATION[o]
        elif o in RECURSIVE:
            clear, a = RECURSIVE[o]
            if o in _ATIME_RECURSIVE:
                p.rclr |= A_ATIME_MASK
                p.rset = (p.rset & ~A_ATIME_MASK) | a
            elif clear:
                p.rclr |= a if a else A_ATIME_MASK
                p.rset &= ~a
            else:
                p.rset |= a
                p.rclr &= ~a
        elif o in IDMAP:
            p.idmap = max(p.idmap, IDMAP[o])
        elif o == "tmpcopyup":
            p.copyup = True  # a tmpfs starts with what its directory held (runc's extension)
        elif o in UNSUPPORTED:
            raise ConfigError(f"mount option {o!r} is not supported yet", field=where, source="config.json")
        else:
            data.append(o)
    p.data = ",".join(data)
    return p


def bind_attrs(p):
    """(attr_set, attr_clr) for a bind mount from its parsed flags."""
    aset = aclr = 0
    for flag, attr in _TO_ATTR:
        if p.flags & flag:
            aset |= attr
        elif p.cleared & flag:
            aclr |= attr
    if p.flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME):
        aclr |= A_ATIME_MASK
        if p.flags & MS_NOATIME:
            aset |= A_NOATIME
        elif p.flags & MS_STRICTATIME:
            aset |= A_STRICTATIME
    return aset, aclr
