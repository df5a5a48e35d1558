"""linux.seccomp → a BPF program, compiled with libseccomp (pyrunc._seccomp, cffi).

`check(cfg)` runs when config.json is loaded (names of actions, architectures, flags and
operators); `compile_filter(cfg)` returns (program bytes, seccomp(2) flags) for the plan's
SECCOMP op, which pyrunc-init loads right before execve.  Imported only when a config has
linux.seccomp.

As runc: syscall names that libseccomp does not know on this machine are skipped (said in
the debug log); a rule whose action is the default action is skipped; when two conditions
of one rule name the same argument, each condition becomes a rule of its own (OR), else
they form one rule (AND); SECCOMP_FILTER_FLAG_TSYNC has no effect (the executor is single
threaded).
"""

import os

from .errors import PyruncError
from .log import log

ACTIONS = {  # name -> (SCMP_ACT value without errno, takes errnoRet)
    "SCMP_ACT_KILL": (0x00000000, False), "SCMP_ACT_KILL_THREAD": (0x00000000, False),
    "SCMP_ACT_KILL_PROCESS": (0x80000000, False), "SCMP_ACT_TRAP": (0x00030000, False),
    "SCMP_ACT_ERRNO": (0x00050000, True), "SCMP_ACT_TRACE": (0x7FF00000, True),
    "SCMP_ACT_LOG": (0x7FFC0000, False), "SCMP_ACT_ALLOW": (0x7FFF0000, False),
    "SCMP_ACT_NOTIFY": (0x7FC00000, False),
}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 0, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32}
NEW_LISTENER = 8  # SECCOMP_FILTER_FLAG_NEW_LISTENER: added when a rule notifies
ARCHES = ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
          "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
          "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
          "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
          "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64"]
EPERM, EEXIST = 1, 17


def check(sc):
    """Refuse what cannot be compiled, before anything is created."""
    where = "config.json: linux.seccomp"
    if not sc:
        return
    _action(sc.get("defaultAction"), sc.get("defaultErrnoRet"), f"{where}.defaultAction")
    for a in sc.get("architectures") or ():
        if a not in ARCHES:
            raise PyruncError(f"{where}.architectures: unknown architecture {a!r}")
    for f in sc.get("flags") or ():
        if f not in FLAGS:
            raise PyruncError(f"{where}.flags: unknown flag {f!r}")
    if sc.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise PyruncError(f"{where}.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action")
    notify = notifies(sc)
    if notify and not sc.get("listenerPath"):
        raise PyruncError(f"{where}: SCMP_ACT_NOTIFY is used but listenerPath is not set")
    if "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in (sc.get("flags") or ()) and not notify:
        raise PyruncError(f"{where}.flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs an SCMP_ACT_NOTIFY rule")
    for i, s in enumerate(sc.get("syscalls") or ()):
        w = f"{where}.syscalls[{i}]"
        _action(s.get("action"), s.get("errnoRet"), f"{w}.action")
        if not s.get("names"):
            raise PyruncError(f"{w}.names must not be empty")
        if s.get("action") == "SCMP_ACT_NOTIFY" and "write" in s["names"]:
            # the executor writes the listener's number to pyrunc after loading the filter
            raise PyruncError(f"{w}: SCMP_ACT_NOTIFY cannot be used for the write syscall")
        for j, arg in enumerate(s.get("args") or ()):
            if arg["op"] not in OPERATORS:
                raise PyruncError(f"{w}.args[{j}]: unknown operator {arg['op']!r}")
            if arg["index"] > 5:
                raise PyruncError(f"{w}.args[{j}]: index {arg['index']} is above 5")


def notifies(sc):
    """Does a rule of linux.seccomp send its syscalls to a listener (SCMP_ACT_NOTIFY)?"""
    return bool(sc) and any(s.get("action") == "SCMP_ACT_NOTIFY" for s in sc.get("syscalls") or ())


def _action(name, errno_ret, where):
    if name not in ACTIONS:
        raise PyruncError(f"{where}: unknown action {name!r}")
    value, takes_errno = ACTIONS[name]
    if errno_ret is not None and not takes_errno:
        raise PyruncError(f"{where}: errnoRet is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE")
    if takes_errno:
        return value | ((EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    return value


def compile_filter(sc):
    """(BPF program bytes, seccomp(2) flags) for linux.seccomp."""
    from ._seccomp import ffi, lib
    default = _action(sc["defaultAction"], sc.get("defaultErrnoRet"), "defaultAction")
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise PyruncError("seccomp: cannot initialise a filter")
    try:
        native = lib.seccomp_arch_native()
        for a in sc.get("architectures") or ():
            token = lib.seccomp_arch_resolve_name(a[len("SCMP_ARCH_"):].lower().encode())
            if token == 0:
                raise PyruncError(f"seccomp: architecture {a} is not known to this libseccomp")
            if token == native:
                continue  # always in a new filter
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and -rc != EEXIST:
                raise PyruncError(f"seccomp: add architecture {a}: {os.strerror(-rc)}")
        for s in sc.get("syscalls") or ():
            action = _action(s["action"], s.get("errnoRet"), "action")
            if action == default:
                continue  # as runc: nothing to add, libseccomp would refuse it
            conds = [(a["index"], OPERATORS[a["op"]], a["value"], a.get("valueTwo", 0))
                     for a in s.get("args") or ()]
            indexes = [c[0] for c in conds]
            groups = [[c] for c in conds] if len(set(indexes)) < len(indexes) else [conds]
            for name in s["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR
                    log.debug(f"seccomp: unknown syscall {name!r} skipped")
                    continue
                for g in groups:
                    _add_rule(ffi, lib, ctx, action, nr, g, name)
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise PyruncError(f"seccomp: export the filter: {os.strerror(-rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(fd)
        stub = enosys_stub(sc, native, ffi, lib)
    finally:
        lib.seccomp_release(ctx)
    flags = NEW_LISTENER if notifies(sc) else 0
    for f in sc.get("flags") or ():
        flags |= FLAGS[f]
    return stub + b"".join(chunks), flags


# --- runc's -ENOSYS stub -------------------------------------------------------------------
# A profile lists the syscalls it knows of.  A syscall newer than all of them (clone3 for
# an old profile, say) would get the default action, EPERM for Docker's, and glibc then
# fails instead of falling back to the older call, which it does on ENOSYS.  So, as runc
# does, a short program runs before libseccomp's: for each architecture of the profile, a
# syscall number above the largest one the profile names returns ENOSYS.  Not when the
# default action lets syscalls through anyway (allow, log, trace) or already says ENOSYS.

AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
ENOSYS = 38
_LD_W_ABS, _JEQ_K, _JGT_K, _JSET_K, _JA, _RET_K = 0x20, 0x15, 0x25, 0x45, 0x05, 0x06


def enosys_stub(sc, native, ffi, lib):
    """The stub's BPF bytes, or b"" when the profile needs none."""
    import struct
    if sc["defaultAction"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"):
        return b""
    if sc["defaultAction"] == "SCMP_ACT_ERRNO" and sc.get("defaultErrnoRet") == ENOSYS:
        return b""
    tokens = {native}
    for a in sc.get("architectures") or ():
        tokens.add(lib.seccomp_arch_resolve_name(a[len("SCMP_ARCH_"):].lower().encode()))
    x32 = lib.seccomp_arch_resolve_name(b"x32")
    largest = {}  # audit arch -> {"x32" or "": largest number}
    for token in tokens:
        top = 0
        for s in sc.get("syscalls") or ():
            for name in s["names"]:
                nr = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
                if nr >= 0:
                    top = max(top, nr)
        if top:
            audit = AUDIT_ARCH_X86_64 if token == x32 else token
            largest.setdefault(audit, {})["x32" if token == x32 else ""] = top
    if not largest:
        return b""
    # [op, jt, jf, k]; jumps to labels are resolved below ("enosys", "filter", sections)
    code = [[_LD_W_ABS, 0, 0, 4]]  # the architecture
    for audit in largest:
        code.append([_JEQ_K, ("sec", audit), 0, audit])
    code.append([_JA, 0, 0, "filter"])
    labels = {}
    for audit, tops in largest.items():
        labels[("sec", audit)] = len(code)
        code.append([_LD_W_ABS, 0, 0, 0])  # the syscall number
        if audit == AUDIT_ARCH_X86_64 and len(tops) == 2:
            code.append([_JSET_K, 2, 0, X32_BIT])
            code.append([_JGT_K, "enosys", 0, tops[""]])
            code.append([_JA, 0, 0, "filter"])
            code.append([_JGT_K, "enosys", 0, tops["x32"]])
        elif audit == AUDIT_ARCH_X86_64:
            # one ABI of x86_64 in the profile: the other's numbers go to the filter
            code.append([_JSET_K, 0, 1, X32_BIT] if "x32" in tops else [_JSET_K, 1, 0, X32_BIT])
            code.append([_JGT_K, "enosys", 0, tops.get("x32", tops.get(""))])
        else:
            code.append([_JGT_K, "enosys", 0, tops[""]])
        code.append([_JA, 0, 0, "filter"])
    labels["enosys"] = len(code)
    code.append([_RET_K, 0, 0, 0x00050000 | ENOSYS])  # SCMP_ACT_ERRNO(ENOSYS)
    labels["filter"] = len(code)
    def rel(target, at):  # a label's distance from the instruction after `at`
        return labels[target] - at - 1 if not isinstance(target, int) else target
    out = []
    for i, (op, jt, jf, k) in enumerate(code):
        if op == _JA:
            k = rel(k, i)
        elif op in (_JEQ_K, _JGT_K, _JSET_K):
            jt, jf = rel(jt, i), rel(jf, i)
        out.append(struct.pack("<HBBI", op, jt, jf, k))
    return b"".join(out)


def send_listener(own, pid, sc, state):
    """Give the notify fd (our copy, closed here) of process pid to the agent at
    listenerPath: the container process state as JSON with the fd (SCM_RIGHTS), as runc."""
    import socket

    from .fastjson import dumps
    try:
        msg = {"ociVersion": state["ociVersion"], "fds": ["seccompFd"], "pid": pid,
               "metadata": sc.get("listenerMetadata") or "", "state": state}
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sc["listenerPath"])
            s.sendmsg([dumps(msg).encode()],
                       [(socket.SOL_SOCKET, socket.SCM_RIGHTS, own.to_bytes(4, "little"))])
        except OSError as e:
            raise PyruncError("cannot send the seccomp fd to the agent at "
                              f"{sc['listenerPath']}: {e.strerror}")
        finally:
            s.close()
    finally:
        os.close(own)


def take_fd(pid, fd):
    """pidfd_getfd(2): a copy of another process's descriptor."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        own = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd
        if own < 0:
            e = ctypes.get_errno()
            raise PyruncError(f"seccomp: get the notify fd of the container: {os.strerror(e)}")
        return own
    finally:
        os.close(pidfd)


def _add_rule(ffi, lib, ctx, action, nr, conds, name):
    arr = ffi.new("struct scmp_arg_cmp[]", max(len(conds), 1))
    for i, (index, op, a, b) in enumerate(conds):
        arr[i].arg = index
        arr[i].op = op
        arr[i].datum_a = a
        arr[i].datum_b = b
    rc = lib.seccomp_rule_add_array(ctx, action, nr, len(conds), arr)
    if rc < 0:
        raise PyruncError(f"seccomp: add a rule for {name}: {os.strerror(-rc)}")
