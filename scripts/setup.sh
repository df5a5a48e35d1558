#!/usr/bin/env bash
# Install what pyrunc needs on a Debian machine, as root, and build it into .venv.
#   scripts/setup.sh          install (idempotent)
#   scripts/setup.sh --demo   install, then run the demo container
#   scripts/setup.sh --engines   also install podman, containerd and docker.io (the engine tests; test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (pyrunc creates namespaces, mounts and cgroups)" >&2
  exit 1
fi

# Debian packages: the compiler, make and headers for the C parts (csrc/Makefile) and the cffi
# module, clang-format (the test command checks the C style), a
# static busybox for test and demo root filesystems, libseccomp, runc to compare with, and
# ps(1) for `pyrunc ps`, newuidmap/newgidmap for rootless containers that map id ranges,
# apparmor_parser for the AppArmor tests (run in a VM whose kernel has AppArmor).
PKGS="gcc make libc6-dev binutils clang-format python3 python3-venv python3-dev libseccomp-dev busybox-static runc util-linux iproute2 procps uidmap apparmor"
# The engines that call pyrunc in integration/test_podman.py, test_containerd.py and
# test_docker.py: podman with conmon and netavark (whose bridge network needs iptables),
# containerd with its runc shim, docker.io (dockerd 20.10; the tests start their own daemons).
ENGINE_PKGS=""
if [ "${1:-}" = "--engines" ]; then
  # (dbus-user-session: the user bus of a user's systemd, for rootless --systemd-cgroup in
  # the systemd VM, which runs this machine's own files)
  # (containernetworking-plugins and catatonit: the pods' network and pause image of the
  # CRI tests, integration/test_cri.py)
  # (criu: checkpoint/restore, run in the VM where Debian 12's criu supports the kernel)
  PKGS="$PKGS podman conmon netavark iptables containerd dbus-user-session containernetworking-plugins catatonit criu"
  ENGINE_PKGS="docker.io"
fi
missing() {
  local out="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || out="$out $p"
  done
  echo "$out"
}
export DEBIAN_FRONTEND=noninteractive
updated=""
install() {  # install [apt-get options] PACKAGES..., quietly, after one `apt-get update`
  [ -n "$updated" ] || { apt-get update -qq; updated=1; }
  apt-get install -y -qq "$@" >/dev/null
}
m=$(missing $PKGS)
if [ -n "$m" ]; then
  echo "setup.sh: installing Debian packages:$m"
  install $m
fi
m=$(missing $ENGINE_PKGS)
if [ -n "$m" ]; then
  # docker.io must not start a host dockerd (its init script would, where no policy forbids
  # it): a policy-rc.d that refuses every service start for the time of the installation,
  # unless the machine has one; without its recommends (cgroupfs-mount, needrestart)
  echo "setup.sh: installing Debian packages:$m"
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  install --no-install-recommends $m || { [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
fi

# A virtual environment from Debian's own python3 (never a PATH-dependent interpreter:
# engines call pyrunc with almost no environment).
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# pip installs the runtime as it is: .venv/bin/pyrunc, the C front, and .venv/bin/pyrunc-py,
# the Python runtime the front starts without site (docs/architecture.md, "Installed files")
.venv/bin/python -m pip install -q ".[test]"
echo "setup.sh: pyrunc installed: $(.venv/bin/pyrunc --version | head -1) at $(pwd)/.venv/bin/pyrunc"

if [ "${1:-}" = "--demo" ]; then
  exec .venv/bin/python -m pyrunc.demo
fi
