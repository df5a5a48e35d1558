"""JSON through CPython's _json C module, without importing the json package.

`import json` pulls in re, enum, functools and collections: about ten milliseconds on
every call, more than everything else `pyrunc state` does.  The C scanner and string
encoder that json itself uses are importable directly; this module wraps them.
"""

from _json import encode_basestring_ascii as _str
from _json import make_scanner as _make_scanner


class JSONError(ValueError):
    pass


MAX_DIGITS = 40  # far beyond any number a config holds; Python's own limit is 4300


def _parse_int(text):
    if len(text) > MAX_DIGITS:
        raise JSONError(f"a number of {len(text)} digits is too large")
    return int(text)


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = staticmethod(_parse_int)
    memo = {}

    @staticmethod
    def parse_constant(name):
        raise JSONError(f"{name} is not valid JSON")


_scan = _make_scanner(_Context())
_WS = " \t\n\r"


def _where(s, i):
    line = s.count("\n", 0, i) + 1
    col = i - s.rfind("\n", 0, i)
    return f"line {line} column {col}"


def loads(s):
    if isinstance(s, (bytes, bytearray)):
        try:
            s = s.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONError(f"not UTF-8 (byte 0x{s[e.start]:02x} at offset {e.start})") from None
    i = 0
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except StopIteration as e:
        raise JSONError(f"syntax error at {_where(s, e.value)}") from None
    except JSONError:
        raise
    except ValueError as e:  # bad escapes, control characters
        raise JSONError(str(e)) from None
    except RecursionError:
        raise JSONError("nested too deeply") from None
    except SystemError:
        # the C scanner reports some errors (an unquoted property name) by importing
        # json.decoder, which this module avoids; the error is lost on the way
        raise JSONError("syntax error (a property name must be a double-quoted string)") from None
    finally:
        _Context.memo.clear()
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise JSONError(f"extra data at {_where(s, end)}")
    return obj


def nonempty(v):
    """A value that is set: not null, nor an empty string, array or object."""
    return v not in (None, "", [], {})


def dumps(obj, indent=None, _level=0):
    """JSON text of dicts, lists, strings, numbers, booleans and None: compact as Go's
    encoding/json writes it (runc's events, logs and lists), or indented."""
    if isinstance(obj, str):
        return _str(obj)
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    if isinstance(obj, (int, float)):
        return repr(obj) if isinstance(obj, float) else str(int(obj))
    if isinstance(obj, dict):
        items = [(_str(str(k)), v) for k, v in obj.items()]
        if not items:
            return "{}"
        if indent is None:
            return "{" + ",".join(f"{k}:{dumps(v)}" for k, v in items) + "}"
        pad = "\n" + " " * (indent * (_level + 1))
        return ("{" + ",".join(f"{pad}{k}: {dumps(v, indent, _level + 1)}" for k, v in items)
                + "\n" + " " * (indent * _level) + "}")
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if indent is None:
            return "[" + ",".join(dumps(v) for v in obj) + "]"
        pad = "\n" + " " * (indent * (_level + 1))
        return ("[" + ",".join(pad + dumps(v, indent, _level + 1) for v in obj)
                + "\n" + " " * (indent * _level) + "]")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")
