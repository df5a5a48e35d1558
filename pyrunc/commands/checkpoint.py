"""checkpoint: runc's flags, given to ops/checkpoint.py."""

from ..state import Container


def options(a, names):
    from ..ops.checkpoint import Options
    return Options(criu=a.criu, **{n: getattr(a, n) for n in names if getattr(a, n) is not None})


NAMES = ("image_path", "work_path", "parent_path", "page_server", "manage_cgroups_mode", "leave_running",
         "tcp_established", "tcp_skip_in_flight", "link_remap", "ext_unix_sk", "shell_job", "lazy_pages",
         "file_locks", "pre_dump", "auto_dedup", "status_fd", "empty_ns")


def main(a):
    from ..ops.checkpoint import checkpoint
    o = options(a, NAMES)
    c = Container.load(a.root, a.id, lock=True)
    with c.locked():
        checkpoint(c, o)
