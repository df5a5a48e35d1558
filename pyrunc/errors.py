"""The errors pyrunc reports: one line to the user, with what a program needs kept apart.

Every error is a `PyruncError` (the name the code has always used; `Error` is the same class).
What is carried, instead of being written into the text and parsed back later:

- `field`: the config.json field (or --process / --resources field) it is about, as a path
  (`mounts[3].options`, `process.user.uid`);
- `source`: where that field came from (`config.json`, `--process FILE`, `--resources`); a
  caller that re-reads a document from elsewhere changes the source, not the text;
- `errno`: the operating system's error number, when there is one;
- `op`: for a failure of the executor, the plan operation (name) that failed;
- `code`: the exit code (1, or 255 for a failed exec, as runc).

The text is formatted once, by `__str__`: `source: field: message` (`source: field message`
where the field is the sentence's subject), then `: strerror` where an errno was given and
the message does not already say it.  `prefix` adds words before it
all (exec's "exec failed: ").  The subclasses say what kind of failure it is, so that a caller
catches what it means (a container that does not exist) and nothing else.
"""


class PyruncError(Exception):
    """An error to report to the user: one line, then exit with `code`."""

    code = 1

    def __init__(self, msg, *, field=None, source=None, errno=None, op=None, code=None, prefix=None,
                 subject=False):
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.subject = subject  # the field is the sentence's subject: "field msg", no colon
        self.source = source
        self.errno = errno
        self.op = op
        self.prefix = prefix
        if code is not None:
            self.code = code

    def __str__(self):
        parts = []
        if self.prefix:
            parts.append(self.prefix)
        if self.source:
            parts.append(self.source)
        text = str(self.msg)
        if self.field and self.subject:
            text = f"{self.field} {text}"
        elif self.field:
            parts.append(self.field)
        if self.errno:
            import os
            why = os.strerror(self.errno)
            if why not in text:
                text = f"{text}: {why}"
        parts.append(text)
        return ": ".join(parts)

    def with_prefix(self, prefix, code=None):
        """The same error, with words in front (set once: a second call keeps the first)."""
        if not self.prefix:
            self.prefix = prefix
        if code is not None:
            self.code = code
        return self


Error = PyruncError


class UsageError(PyruncError):
    """The command line is wrong."""


class ConfigError(PyruncError):
    """A document given to pyrunc (config.json, --process, --resources) is not acceptable."""


class NotFoundError(PyruncError):
    """The container does not exist."""


class ForeignContainerError(PyruncError):
    """The state directory exists but was not written by pyrunc (another runtime's, in a
    --root shared between runtimes): never read as ours, signalled or removed."""


class StateError(PyruncError):
    """The container is not in a status that allows the call."""


class CgroupError(PyruncError):
    """A cgroup could not be made, written, frozen or removed."""


class ExecutorError(PyruncError):
    """pyrunc-init reported a failure: `op` names the plan operation, `errno` the error."""


class HookError(PyruncError):
    """A hook failed."""


class HostError(PyruncError):
    """The host lacks what the call needs (a kernel feature, a program, a module)."""
