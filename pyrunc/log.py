"""Errors and debug lines: one line on stderr, and text or JSON lines in --log.

The JSON form is what conmon and the containerd shim parse:
{"level":"error","msg":"...","time":"2006-01-02T15:04:05Z"}.
"""

import os
import sys
import time


class Log:
    def __init__(self):
        self.path = None
        self.fmt = "text"
        self.debug_on = False

    def _stamp(self):
        t = time.time()
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)

    def _write(self, level, msg):
        if self.fmt == "json":
            from .fastjson import dumps
            line = dumps({"level": level, "msg": msg, "time": self._stamp()}) + "\n"
        else:
            esc = msg.replace("\\", "\\\\").replace('"', '\\"')
            line = f'time="{self._stamp()}" level={level} msg="{esc}"\n'
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def error(self, msg):
        msg = " ".join(str(msg).splitlines()) or "unknown error"
        try:
            sys.stderr.write(f"pyrunc: {msg}\n")
            sys.stderr.flush()
        except OSError:
            pass
        if self.path:
            try:
                self._write("error", msg)
            except OSError:
                pass

    def warning(self, msg):
        if self.path:
            try:
                self._write("warning", msg)
                return
            except OSError:
                pass
        try:
            sys.stderr.write(f"pyrunc: warning: {msg}\n")
        except OSError:
            pass

    def debug(self, msg):
        if not self.debug_on:
            return
        if self.path:
            try:
                self._write("debug", msg)
                return
            except OSError:
                pass
        sys.stderr.write(f"pyrunc: debug: {msg}\n")


log = Log()
