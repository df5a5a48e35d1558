from ..ops.create import Request, create


def request(a):
    """The create.Request of create's (and run's) command line."""
    return Request(a.root, a.id, a.bundle or ".", console_socket=a.console_socket, pid_file=a.pid_file,
                   no_pivot=a.no_pivot, no_new_keyring=a.no_new_keyring, preserve_fds=a.preserve_fds,
                   rootless_mode=a.rootless_mode, cgroup_manager=a.cgroup_manager)


def main(a):
    create(request(a))
