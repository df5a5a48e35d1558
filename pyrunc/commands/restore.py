"""restore: runc's flags, given to ops/restore.py."""

from .checkpoint import options

NAMES = ("image_path", "work_path", "manage_cgroups_mode", "tcp_established", "ext_unix_sk", "shell_job",
         "file_locks", "auto_dedup", "lazy_pages", "empty_ns", "lsm_profile", "lsm_mount_context")


def main(a):
    from ..cli import create_request
    from ..ops.restore import restore
    o = options(a, NAMES)
    a.no_new_keyring = a.preserve_fds = a.pidfd_socket = None
    # (--no-subreaper: the restored init is pyrunc's own child, CRIU restores it so)
    return restore(create_request(a), o, detach=bool(a.detach))
