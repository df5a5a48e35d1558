"""The one exception type that reaches the user as a one-line error."""


class PyruncError(Exception):
    """An error to report to the user: one line, then exit with `code`."""

    def __init__(self, msg, code=1):
        super().__init__(msg)
        self.code = code
