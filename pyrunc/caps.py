"""Capability names and numbers (linux/capability.h)."""

NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
NUMBERS = {n: i for i, n in enumerate(NAMES)}


def mask(names, unknown=None):
    """Bit mask of a list of capability names.  Names this table or the running kernel does
    not know are left out (collected in the set `unknown`): the runtime-spec says a runtime
    SHOULD NOT fail on them, and runc warns and goes on."""
    m = 0
    last = last_cap()
    for n in names or ():
        num = NUMBERS.get(n)
        if num is None or num > last:
            if unknown is not None:
                unknown.add(n)
            continue
        m |= 1 << num
    return m


_last = None


def last_cap():
    """The running kernel's highest capability number."""
    global _last
    if _last is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last = int(f.read())
        except (OSError, ValueError):
            _last = len(NAMES) - 1
    return _last


def warn_unknown(unknown):
    if unknown:
        from .log import log
        log.warning("ignoring unknown or unavailable capabilities: [" + " ".join(sorted(unknown)) + "]")
