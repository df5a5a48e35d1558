"""systemd over D-Bus: what the systemd cgroup driver (cgroups/systemd.py) asks of it.

The messages are built and parsed by jeepney (a pure-Python D-Bus library; docs/architecture.md
says why this one); this module only opens the connection and speaks to systemd's Manager
interface.  It is imported only for a container whose cgroups systemd manages.

The bus: the system bus for root (`DBUS_SYSTEM_BUS_ADDRESS`, else
/run/dbus/system_bus_socket), the user's own bus for a rootless container
(`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`), where the user's systemd
instance delegates a cgroup v2 subtree.  Authentication is EXTERNAL with the uid the bus sees
from the socket: inside a user namespace (rootless podman runs the runtime as uid 0 in one)
that is the uid ours maps to outside, not our own.

A job (start, stop) is waited for until systemd removes it: the JobRemoved signal, asked for
(bus match, Manager.Subscribe) before the call that makes the job, so that it cannot be
missed, and sent without waiting for their replies (one round trip per job, not three).
"""

import os
import socket
from collections import deque

from .errors import CgroupError

SERVICE = "org.freedesktop.systemd1"
OBJECT = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
TIMEOUT = 30.0  # seconds for a call or a job, as runc
INFINITY = (1 << 64) - 1  # systemd's "infinity" for a uint64 property


class SystemdError(CgroupError):
    """A D-Bus error from systemd; .name is the error's D-Bus name."""

    def __init__(self, msg, name=""):
        super().__init__(msg)
        self.name = name


def bus_address(user):
    if not user:
        return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "unix:path=/run/dbus/system_bus_socket"
    addr = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if addr:
        return addr
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.exists(os.path.join(xdg, "bus")):
        return "unix:path=" + os.path.join(xdg, "bus")
    raise CgroupError("rootless --systemd-cgroup needs the user's systemd: no DBUS_SESSION_BUS_ADDRESS, "
                      "and no bus in $XDG_RUNTIME_DIR (is `systemd --user` running for this user?)")


def outside_uid():
    """Our effective uid as seen from the initial user namespace's side of our user
    namespace (the uid the bus reads from the socket)."""
    uid = os.geteuid()
    try:
        with open("/proc/self/uid_map") as f:
            for line in f:
                inside, outside, count = (int(x) for x in line.split())
                if inside <= uid < inside + count:
                    return outside + uid - inside
    except (OSError, ValueError):
        pass
    return uid


def _connect(address):
    from jeepney.bus import get_bus
    from jeepney.io.blocking import DBusConnection
    try:
        path = get_bus(address)
    except Exception as e:  # jeepney: RuntimeError or ValueError for an address it cannot use
        raise CgroupError(f"systemd: unusable D-Bus address {address!r}: {e}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(TIMEOUT)
    try:
        sock.connect(path)
        # SASL: the NUL byte, EXTERNAL with the uid the server reads from SO_PEERCRED
        sock.sendall(b"\0AUTH EXTERNAL " + str(outside_uid()).encode().hex().encode() + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = sock.recv(512)
            if not chunk:
                break
            line += chunk
        if not line.startswith(b"OK "):
            said = line.strip().decode(errors="replace")
            raise CgroupError(f"systemd: the D-Bus bus at {address} refused us: {said}")
        sock.sendall(b"BEGIN\r\n")
        return DBusConnection(sock)
    except OSError as e:
        sock.close()
        raise CgroupError(f"systemd: cannot reach the D-Bus bus at {address}: {e.strerror or e}")
    except CgroupError:
        sock.close()
        raise


class Systemd:
    """A connection to the system's systemd, or to the user's (user=True)."""

    def __init__(self, user=False):
        self.user = user
        self.conn = _connect(bus_address(user))
        self._version = None
        self._subscribed = False
        self._jobs = deque()

    def close(self):
        self.conn.close()

    # ---- calls ----
    def _msg(self, method, sig=None, body=(), iface=MANAGER, path=OBJECT):
        from jeepney import DBusAddress, new_method_call
        return new_method_call(DBusAddress(path, bus_name=SERVICE, interface=iface), method, sig, body)

    def call(self, method, sig=None, body=(), iface=MANAGER, path=OBJECT):
        from jeepney import MessageType
        try:
            reply = self.conn.send_and_get_reply(self._msg(method, sig, body, iface, path), timeout=TIMEOUT)
        except TimeoutError:
            raise SystemdError(f"systemd: no answer to {method} in {TIMEOUT:.0f} s")
        except OSError as e:
            raise SystemdError(f"systemd: {method}: {e.strerror or e}")
        if reply.header.message_type == MessageType.error:
            from jeepney import HeaderFields
            name = reply.header.fields.get(HeaderFields.error_name, "")
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else name
            raise SystemdError(text, name)
        return reply.body

    def manager_property(self, name):
        body = self.call("Get", "ss", (MANAGER, name), iface="org.freedesktop.DBus.Properties")
        return body[0][1]

    def version(self):
        """systemd's version number (252 for "252.38-1~deb12u1"), -1 if unknown."""
        if self._version is None:
            try:
                text = str(self.manager_property("Version")).lstrip('"v')
                digits = ""
                for ch in text:
                    if not ch.isdigit():
                        break
                    digits += ch
                self._version = int(digits) if digits else -1
            except SystemdError:
                self._version = -1
        return self._version

    # ---- jobs ----
    def _subscribe(self):
        """Ask for JobRemoved before any job is made (replies not waited for: the bus and
        systemd handle one connection's messages in order)."""
        if self._subscribed:
            return
        from jeepney import MatchRule, message_bus
        rule = MatchRule(type="signal", sender=SERVICE, interface=MANAGER, member="JobRemoved", path=OBJECT)
        self._filter = self.conn.filter(MatchRule(type="signal", interface=MANAGER, member="JobRemoved",
                                                  path=OBJECT), queue=self._jobs)
        self.conn.send(message_bus.AddMatch(rule))
        self.conn.send(self._msg("Subscribe"))
        self._subscribed = True

    def _wait_job(self, job, what):
        """The job's result ("done", "failed", "canceled", ...) once systemd removed it."""
        import time
        deadline = time.monotonic() + TIMEOUT
        while True:
            while self._jobs:
                _id, path, _unit, result = self._jobs.popleft().body
                if path == job:
                    return result
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemdError(f"systemd: timed out waiting for {what}")
            try:
                self.conn.recv_messages(timeout=left)
            except TimeoutError:
                pass

    def start_transient(self, unit, props):
        """StartTransientUnit and wait for its job; a unit of that name left over from an
        earlier failure is reset and the start retried once, as runc."""
        self._subscribe()
        for attempt in (1, 2):
            try:
                (job,) = self.call("StartTransientUnit", "ssa(sv)a(sa(sv))", (unit, "replace", props, []))
                break
            except SystemdError as e:
                if attempt == 2 or not e.name.endswith(".UnitExists"):
                    raise
                self.reset_failed(unit)
        result = self._wait_job(job, f"the start of {unit}")
        if result != "done":
            self.reset_failed(unit)
            raise SystemdError(f"error creating systemd unit `{unit}`: got `{result}`")

    def stop(self, unit):
        """StopUnit and wait for its job (a unit that is gone already: nothing to do), then
        reset it if it failed, so that systemd forgets it."""
        self._subscribe()
        try:
            (job,) = self.call("StopUnit", "ss", (unit, "replace"))
        except SystemdError as e:
            if not e.name.endswith(".NoSuchUnit"):
                raise
        else:
            result = self._wait_job(job, f"the stop of {unit}")
            if result != "done":
                from .log import log
                log.warning(f"systemd: stopping unit {unit}: got `{result}`")
        self.reset_failed(unit)

    def reset_failed(self, unit):
        try:
            self.call("ResetFailedUnit", "s", (unit,))
        except SystemdError:
            pass  # not failed, or gone

    def set_properties(self, unit, props):
        if props:
            self.call("SetUnitProperties", "sba(sv)", (unit, True, props))

    def unit_active(self, unit):
        """The unit's ActiveState, or None when systemd does not know it."""
        try:
            (path,) = self.call("GetUnit", "s", (unit,))
        except SystemdError as e:
            if e.name.endswith(".NoSuchUnit"):
                return None
            raise
        body = self.call("Get", "ss", ("org.freedesktop.systemd1.Unit", "ActiveState"),
                         iface="org.freedesktop.DBus.Properties", path=path)
        return body[0][1]
