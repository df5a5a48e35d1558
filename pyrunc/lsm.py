"""AppArmor and SELinux: process.apparmorProfile, process.selinuxLabel, linux.mountLabel.

Applied where the host's kernel has the module enabled, as runc: the profile or label of
the container's program is written to /proc/thread-self/attr/... (the host procfs the
executor opened and checked) right before execve, so it takes effect at execve and not
earlier; the mount label becomes a `context="…"` option of every mount pyrunc makes from
config.json.  Where the module is not enabled, a config that names a profile or a label is
refused with an error that names it (runc refuses these too), never run unconfined.
"""

import os

from .errors import ConfigError


def apparmor_enabled():
    """As runc: securityfs shows AppArmor and its module parameter says Y."""
    if not os.path.isdir("/sys/kernel/security/apparmor"):
        return False
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def selinux_enabled():
    """selinuxfs is mounted (the kernel has SELinux and a policy is loaded)."""
    return os.path.exists("/sys/fs/selinux/enforce")


def check_process(proc, where, source="config.json"):
    profile = proc.get("apparmorProfile")
    if profile and not apparmor_enabled():
        raise ConfigError(f"{where}.apparmorProfile {profile!r}: AppArmor is not enabled on this host",
                          source=source)
    label = proc.get("selinuxLabel")
    if label and not selinux_enabled():
        raise ConfigError(f"{where}.selinuxLabel {label!r}: SELinux is not enabled on this host",
                          source=source)


def check_mount_label(label):
    """The mount label to use: none where SELinux is not enabled, where a mount's context
    means nothing (crun does the same; runc 1.1 passes context= and the mounts fail).
    Unlike a process label, which would leave the process unconfined, nothing is lost:
    the ignored label is reported as a warning."""
    if label and not selinux_enabled():
        from .log import log
        log.warning(f"config.json: linux.mountLabel {label!r} ignored: SELinux is not enabled on this host")
        return None
    return label


def mount_data(data, label):
    """A mount's data with the SELinux context option, as runc's FormatMountLabel."""
    if not label:
        return data
    opt = f'context="{label}"'
    return f"{data},{opt}" if data else opt
