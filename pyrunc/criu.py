"""CRIU's RPC (`criu swrk FD`): the requests checkpoint and restore send, as runc sends them.

pyrunc starts `criu swrk N` with one end of a SOCK_SEQPACKET socket pair at N, writes one
criu_req and reads criu_resp messages: NOTIFY ones (the notify scripts: setup-namespaces,
post-restore, orphan-pts-master...) are answered with notify_success after pyrunc has done
its part, until the answer to the request itself.  Directories are passed as descriptors of
this process (CRIU opens them through /proc/<client>/fd); descriptors CRIU must inherit
(a joined network namespace, the restored process's stdio) keep their numbers in its
process.  The messages are described here by the field numbers of CRIU's images/rpc.proto
and encoded by protowire.py; CRIU's text output is never parsed (its log is quoted in an
error only).
"""

import os

from .errors import PyruncError

DUMP, RESTORE, CHECK, PRE_DUMP, NOTIFY, FEATURE_CHECK, VERSION = 1, 2, 3, 4, 6, 9, 10
TYPE_NAMES = {0: "EMPTY", 1: "DUMP", 2: "RESTORE", 3: "CHECK", 4: "PRE_DUMP", 5: "PAGE_SERVER", 6: "NOTIFY",
              7: "CPUINFO_DUMP", 8: "CPUINFO_CHECK", 9: "FEATURE_CHECK", 10: "VERSION", 11: "WAIT_PID",
              12: "PAGE_SERVER_CHLD", 13: "SINGLE_PRE_DUMP"}
# criu_cg_mode, by runc's --manage-cgroups-mode names ("" = CRIU's default)
CG_MODES = {"ignore": 0, "none": 1, "props": 2, "soft": 3, "full": 4, "strict": 5, "": 6}

MESSAGES = {
    "criu_page_server_info": {"address": (1, "s"), "port": (2, "i"), "pid": (3, "i"), "fd": (4, "i")},
    "ext_mount_map": {"key": (1, "s"), "val": (2, "s")},
    "join_namespace": {"ns": (1, "s"), "ns_file": (2, "s"), "extra_opt": (3, "s")},
    "inherit_fd": {"key": (1, "s"), "fd": (2, "i")},
    "cgroup_root": {"ctrl": (1, "s"), "path": (2, "s")},
    "criu_opts": {
        "images_dir_fd": (1, "i"), "pid": (2, "i"), "leave_running": (3, "b"), "ext_unix_sk": (4, "b"),
        "tcp_established": (5, "b"), "evasive_devices": (6, "b"), "shell_job": (7, "b"), "file_locks": (8, "b"),
        "log_level": (9, "i"), "log_file": (10, "s"), "ps": (11, "criu_page_server_info"),
        "notify_scripts": (12, "b"), "root": (13, "s"), "parent_img": (14, "s"), "track_mem": (15, "b"),
        "auto_dedup": (16, "b"), "work_dir_fd": (17, "i"), "link_remap": (18, "b"),
        "ext_mnt": (23, "*ext_mount_map"), "manage_cgroups": (24, "b"), "cg_root": (25, "*cgroup_root"),
        "rst_sibling": (26, "b"), "inherit_fd": (27, "*inherit_fd"), "manage_cgroups_mode": (34, "i"),
        "external": (37, "*s"), "empty_ns": (38, "i"), "join_ns": (39, "*join_namespace"),
        "freeze_cgroup": (44, "s"), "tcp_skip_in_flight": (46, "b"), "lazy_pages": (48, "b"),
        "status_fd": (49, "i"), "orphan_pts_master": (50, "b"), "config_file": (51, "s"),
        "lsm_profile": (53, "s"), "lsm_mount_context": (63, "s"),
    },
    "criu_features": {"mem_track": (1, "b"), "lazy_pages": (2, "b"), "pidfd_store": (3, "b")},
    "criu_req": {"type": (1, "i"), "opts": (2, "criu_opts"), "notify_success": (3, "b"), "keep_open": (4, "b"),
                 "features": (5, "criu_features"), "pid": (6, "i")},
    "criu_dump_resp": {"restored": (1, "b")},
    "criu_restore_resp": {"pid": (1, "i")},
    "criu_notify": {"script": (1, "s"), "pid": (2, "i")},
    "criu_version": {"major_number": (1, "i"), "minor_number": (2, "i"), "gitid": (3, "s"), "sublevel": (4, "i"),
                     "extra": (5, "i"), "name": (6, "s")},
    "criu_resp": {"type": (1, "i"), "success": (2, "b"), "dump": (3, "criu_dump_resp"),
                  "restore": (4, "criu_restore_resp"), "notify": (5, "criu_notify"),
                  "ps": (6, "criu_page_server_info"), "cr_errno": (7, "i"), "features": (8, "criu_features"),
                  "cr_errmsg": (9, "s"), "version": (10, "criu_version"), "status": (11, "i")},
}


def _encode(doc):
    from .protowire import encode
    return encode(MESSAGES, "criu_req", doc)


def _decode(data):
    from .protowire import decode
    return decode(MESSAGES, "criu_resp", data)


def log_excerpt(path):
    """The error of a CRIU log that says why, for a one-line message ("" without one): the
    first "Error" line but the warnings CRIU logs as errors and its closing summary."""
    noise = ("rlimit:", "FAILED", "failed with -1")
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if "Error (" in line and not any(n in line for n in noise):
                    return line.split("): ", 1)[-1].strip()
    except OSError:
        pass
    return ""


class Criu:
    """One `criu swrk` process and its socket."""

    def __init__(self, path=None, stdio=None, pass_fds=()):
        import shutil
        import socket
        import subprocess
        exe = path or "criu"
        if "/" not in exe:
            found = shutil.which(exe)
            if not found:
                raise PyruncError(f'CRIU version check failed: exec: "{exe}": executable file not found in $PATH')
            exe = found
        self.sock, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fd = peer.fileno()
        devnull = subprocess.DEVNULL
        stdin, stdout, stderr = stdio or (devnull, devnull, devnull)
        try:
            self.proc = subprocess.Popen([exe, "swrk", str(fd)], pass_fds=(fd, *pass_fds), stdin=stdin,
                                         stdout=stdout, stderr=stderr, close_fds=True)
        except OSError as e:
            self.sock.close()
            raise PyruncError(f"cannot run criu ({exe}): {e.strerror}")
        finally:
            peer.close()
        self.pid = self.proc.pid

    def call(self, req, on_notify=None):
        """Send req; answer NOTIFY messages through on_notify(script, pid, fds); the answer."""
        import socket
        self.sock.sendall(_encode(req))
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 10 * 4096, 8)
            except OSError as e:
                raise PyruncError(f"criu: {e.strerror}")
            if not data:
                raise PyruncError("criu failed: it ended without an answer")
            resp = _decode(data)
            t = resp.get("type", 0)
            if not resp.get("success"):
                for fd in fds:
                    os.close(fd)
                raise PyruncError(f"criu failed: type {TYPE_NAMES.get(t, t)} errno {resp.get('cr_errno', 0)}")
            if t != NOTIFY:
                for fd in fds:
                    os.close(fd)
                return resp
            n = resp.get("notify") or {}
            try:
                if on_notify:
                    on_notify(n.get("script", ""), n.get("pid", 0), fds)
            finally:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self.sock.sendall(_encode({"type": NOTIFY, "notify_success": True}))

    def version(self):
        """CRIU's version as runc compares it (major*10000 + minor*100 + sublevel); the
        conversation stays open for the request that follows (keep_open)."""
        try:
            v = self.call({"type": VERSION, "keep_open": True}).get("version") or {}
        except PyruncError as e:
            raise PyruncError(f"CRIU version check failed: {e}")
        return v.get("major_number", 0) * 10000 + v.get("minor_number", 0) * 100 + v.get("sublevel", 0)

    def check_version(self, minimum):
        v = self.version()
        if v < minimum:
            raise PyruncError(f"CRIU version {v} must be {minimum} or higher")
        return v

    def features(self, wanted):
        """Which of the wanted criu_features (names: True) this CRIU and kernel have (the
        conversation stays open when the check succeeds)."""
        try:
            got = self.call({"type": FEATURE_CHECK, "features": wanted, "keep_open": True}).get("features") or {}
        except PyruncError:
            got = {}  # (CRIU answers a check whose features are missing with "no success")
        return {k: bool(got.get(k)) for k in wanted}

    def close(self, check=True):
        """End the conversation and wait for criu; an error if it failed (check).  A second
        call does nothing."""
        import socket
        if self.sock is None:
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()
        self.sock = None
        status = self.proc.wait()
        if check and status != 0:
            raise PyruncError(f"criu failed: exit status {status}")


def version(path=None):
    """CRIU's version (a criu swrk of its own; see Criu.version)."""
    c = Criu(path)
    try:
        return c.version()
    finally:
        c.close(check=False)


def features(path, wanted):
    """Which of the wanted criu_features this CRIU and kernel have (a criu swrk of its own)."""
    c = Criu(path)
    try:
        return c.features(wanted)
    finally:
        c.close(check=False)
