"""Device access rules: the v1 devices controller, or an eBPF program on cgroup v2.

The rules are those of runc: the config's linux.resources.devices, then runc's default
allow-list (mknod of anything, the standard character devices, ptys, /dev/net/tun),
evaluated from "deny everything".  A default device that linux.devices redefines by path
is left out of the defaults, as runc does.

v1: the kernel evaluates the rules itself; they are written in order after "deny all".
v2: the same list becomes a BPF_PROG_TYPE_CGROUP_DEVICE program, assembled here: the rules
are tried from the last to the first, the first that matches decides (so a later rule wins,
which is the v1 behaviour for the lists engines send); nothing matching means deny.  An
allow rule matches when it grants every requested access, a deny rule when it denies any.
"""

import struct

from ..errors import CgroupError, ConfigError

# (rule, path of the device it is for, or None)
DEFAULTS = [
    (("c", -1, -1, "m"), None), (("b", -1, -1, "m"), None),
    (("c", 1, 3, "rwm"), "/dev/null"), (("c", 1, 8, "rwm"), "/dev/random"),
    (("c", 1, 7, "rwm"), "/dev/full"), (("c", 5, 0, "rwm"), "/dev/tty"),
    (("c", 1, 5, "rwm"), "/dev/zero"), (("c", 1, 9, "rwm"), "/dev/urandom"),
    (("c", 136, -1, "rwm"), None), (("c", 5, 2, "rwm"), None), (("c", 10, 200, "rwm"), None),
]


def rules(res_devices, linux_devices=()):
    """[(allow, type, major, minor, access)] in order: the config's, then the defaults."""
    out = []
    for i, r in enumerate(res_devices or ()):
        t = r.get("type") or "a"
        if t not in ("a", "b", "c"):
            raise ConfigError(f"linux.resources.devices[{i}]: invalid device type {t!r} (want a, b or c)")
        access = r.get("access") or "rwm"
        if not set(access) <= set("rwm"):
            raise ConfigError(f"linux.resources.devices[{i}]: invalid access {access!r} (letters r, w, m)")
        major, minor = r.get("major"), r.get("minor")
        out.append((bool(r["allow"]), t, -1 if major is None else major, -1 if minor is None else minor,
                    access))
    redefined = {d.path for d in linux_devices or ()}  # config.Device
    for (t, major, minor, access), path in DEFAULTS:
        if path is None or path not in redefined:
            out.append((True, t, major, minor, access))
    return out


def v1_lines(rule_list):
    """[(file, line)] for the v1 devices controller, starting from deny all."""
    out = [("devices.deny", "a")]
    for allow, t, major, minor, access in rule_list:
        f = "devices.allow" if allow else "devices.deny"
        if t == "a" and major < 0 and minor < 0:
            out.append((f, "a"))
            continue
        ma = "*" if major < 0 else str(major)
        mi = "*" if minor < 0 else str(minor)
        out.append((f, f"{t} {ma}:{mi} {''.join(sorted(set(access), key='rwm'.index))}"))
    return out


# --- eBPF -----------------------------------------------------------------------------
# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
# access_type = (access << 16) | type; type 1 block, 2 char; access 1 mknod, 2 read, 4 write
DEV_TYPE = {"b": 1, "c": 2}
ACC_BITS = {"m": 1, "r": 2, "w": 4}

LDXW, AND64_K, RSH64_K, MOV64_X, MOV64_K, JNE_K, JEQ_K, EXIT = \
    0x61, 0x57, 0x77, 0xbf, 0xb7, 0x55, 0x15, 0x95


def _insn(op, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _acc(access):
    bits = 0
    for ch in access:
        bits |= ACC_BITS[ch]
    return bits


def program(rule_list):
    """The BPF instructions (bytes, 8 per instruction) for the rule list."""
    code = [
        _insn(LDXW, 2, 1, 0),        # r2 = ctx->access_type
        _insn(MOV64_X, 3, 2),        # r3 = r2 & 0xffff: device type
        _insn(AND64_K, 3, imm=0xffff),
        _insn(RSH64_K, 2, imm=16),   # r2 = access requested
        _insn(LDXW, 4, 1, 4),        # r4 = major
        _insn(LDXW, 5, 1, 8),        # r5 = minor
    ]
    for allow, t, major, minor, access in reversed(rule_list):
        block = []  # jumps hold a placeholder offset, fixed once the block's length is known
        if t != "a":
            block.append(["jne", 3, DEV_TYPE[t]])
        acc = _acc(access)
        if acc != 7:
            block.append(["mov", 0, 2])
            if allow:
                block.append(["and", 0, (~acc) & 7])   # requested but not granted: no match
                block.append(["jne", 0, 0])
            else:
                block.append(["and", 0, acc])          # nothing requested is denied: no match
                block.append(["jeq", 0, 0])
        if major >= 0:
            block.append(["jne", 4, major])
        if minor >= 0:
            block.append(["jne", 5, minor])
        n = len(block) + 2
        for i, ins in enumerate(block):
            op, reg, imm = ins
            skip = n - i - 1   # to the first instruction after this rule's exit
            if op == "jne":
                code.append(_insn(JNE_K, reg, off=skip, imm=imm))
            elif op == "jeq":
                code.append(_insn(JEQ_K, reg, off=skip, imm=imm))
            elif op == "mov":
                code.append(_insn(MOV64_X, reg, imm))
            else:
                code.append(_insn(AND64_K, reg, imm=imm))
        code.append(_insn(MOV64_K, 0, imm=1 if allow else 0))
        code.append(_insn(EXIT))
        if not block:
            # matches everything: what follows could never run (and the verifier
            # refuses unreachable instructions)
            return b"".join(code)
    code.append(_insn(MOV64_K, 0, imm=0))
    code.append(_insn(EXIT))
    return b"".join(code)


def attach_v2(cgroup_dir, rule_list):
    """Load the program and attach it to the cgroup, replacing any program pyrunc (or
    anyone) attached there before; returns nothing, raises PyruncError."""
    import os

    from .._native import ffi, lib
    insns = program(rule_list)
    buf = ffi.new("char[]", insns)
    fd = lib.pyrunc_bpf_prog_load(buf, len(insns) // 8, ffi.NULL, 0)
    if fd < 0:
        err = ffi.errno
        logbuf = ffi.new("char[]", 65536)
        lib.pyrunc_bpf_prog_load(buf, len(insns) // 8, logbuf, 65536)
        detail = ffi.string(logbuf).decode(errors="replace").strip().splitlines()
        raise CgroupError(f"linux.resources.devices: cannot load the device eBPF program: "
                          f"{os.strerror(err)}{' (' + detail[-1] + ')' if detail else ''}")
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        os.close(fd)
        raise CgroupError(f"linux.resources.devices: {cgroup_dir}: {e.strerror}")
    try:
        ids = ffi.new("unsigned int[]", 64)
        cnt = ffi.new("unsigned int *", 64)
        old = []
        if lib.pyrunc_bpf_query(cg, ids, cnt) == 0:
            old = [ids[i] for i in range(cnt[0])]
        else:
            from ..log import log
            log.warning(f"{cgroup_dir}: cannot list the device programs attached before: "
                        f"{os.strerror(ffi.errno)} (any such program stays)")
        if lib.pyrunc_bpf_attach(cg, fd) < 0:
            raise CgroupError(f"linux.resources.devices: cannot attach the device eBPF program to "
                              f"{cgroup_dir}: {os.strerror(ffi.errno)}")
        for pid in old:
            if lib.pyrunc_bpf_detach_id(cg, pid) < 0:
                from ..log import log
                log.warning(f"{cgroup_dir}: cannot detach the earlier device program {pid}: "
                            f"{os.strerror(ffi.errno)} (both now apply)")
    finally:
        os.close(cg)
        os.close(fd)
