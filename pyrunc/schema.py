"""A small JSON Schema validator for the subset our schemas in oci-spec/ use.

Keywords: type, properties, required, items, enum, pattern, minimum, maximum, minLength,
additionalProperties (a schema), $ref to #/definitions/….  Errors name the field path
(`process.user.uid`) and the problem.  The jsonschema package is not needed at run time;
the unit tests check that both validators agree on our schemas.
"""

import os

from . import fastjson
from .errors import ConfigError

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_path(name):
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(here, "oci_spec", name), os.path.join(here, "..", "oci-spec", name)):
        if os.path.exists(cand):
            return cand
    raise ConfigError(f"schema {name} is missing from the installation")


def load_schema(name):
    with open(schema_path(name), "rb") as f:
        return fastjson.loads(f.read())


def _bad_text(s, path):
    """Why s cannot be passed to the kernel as text: a NUL byte would cut it short (or be
    refused), a lone surrogate (JSON's "\ud800") is not UTF-8.  Annotations are exempt: they
    only ever travel as JSON, to hooks and in the state."""
    if "\0" in s:
        return None if path.startswith("annotations") else "contains a NUL byte"
    if not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError:
            return None if path.startswith("annotations") else "is not valid text (a lone surrogate)"
    return None


def _where(path):
    return path or "(top level)"


def _bad(path, msg):
    return ConfigError(msg, field=_where(path), source="config.json")


def validate(doc, schema, root=None, path=""):
    """Raise ConfigError naming the first violation of schema by doc."""
    root = root or schema
    ref = schema.get("$ref")
    if ref:
        node = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = node
    t = schema.get("type")
    if t is not None:
        kinds = t if isinstance(t, list) else [t]
        if not any(_TYPES[k](doc) for k in kinds):
            raise _bad(path, f"expected {' or '.join(kinds)}, got {_describe(doc)}")
    if "enum" in schema and doc not in schema["enum"]:
        raise _bad(path, f"{doc!r} is not one of {schema['enum']}")
    if isinstance(doc, str):
        why = _bad_text(doc, path)
        if why:
            raise _bad(path, why)
        if len(doc) < schema.get("minLength", 0):
            raise _bad(path, "must not be empty")
        if "pattern" in schema:
            if not _matches(schema["pattern"], doc):
                raise _bad(path, f"{doc!r} does not match {schema['pattern']}")
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        if "minimum" in schema and doc < schema["minimum"]:
            raise _bad(path, f"{doc} is less than {schema['minimum']}")
        if "maximum" in schema and doc > schema["maximum"]:
            raise _bad(path, f"{doc} is more than {schema['maximum']}")
    if isinstance(doc, dict):
        for key in schema.get("required", ()):
            if key not in doc:
                raise _bad(path, f"required field {key!r} is missing")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in doc.items():
            sub = f"{path}.{key}" if path else key
            why = _bad_text(key, sub)
            if why:
                raise _bad(path, f"a key {why}")
            if key in props:
                validate(value, props[key], root, sub)
            elif isinstance(extra, dict):
                validate(value, extra, root, sub)
            elif extra is False:
                raise _bad(path, f"unknown field {key!r}")
    if isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            validate(item, schema["items"], root, f"{path}[{i}]")


_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NUM = frozenset("0123456789")
_IDENT = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-")


def _semver(s):
    core, plus, build = s.partition("+")
    core, dash, pre = core.partition("-")
    parts = core.split(".")
    return bool(len(parts) == 3 and all(p and _NUM.issuperset(p) for p in parts)
            and (not dash or (pre and _IDENT.issuperset(pre)))
            and (not plus or (build and _IDENT.issuperset(build))))


# The patterns of our schemas, checked without importing re (whose import, with enum,
# costs more than validating a whole config); tests/test_schema.py checks each against re.
FAST_PATTERNS = {
    "^/": lambda s: s.startswith("/"),
    "^CAP_[A-Z0-9_]+$": lambda s: len(s) > 4 and s.startswith("CAP_") and (_UPPER | _NUM | {"_"}).issuperset(s[4:]),
    "^RLIMIT_[A-Z]+$": lambda s: len(s) > 7 and s.startswith("RLIMIT_") and _UPPER.issuperset(s[7:]),
    "^[rwm]*$": lambda s: frozenset("rwm").issuperset(s),
    "^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$": _semver,
}


def _matches(pattern, s):
    fast = FAST_PATTERNS.get(pattern)
    if fast is not None:
        return fast(s)
    import re
    return re.search(pattern, s) is not None


def _describe(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    names = {dict: "object", list: "array", str: "string", int: "integer", float: "number"}
    return names.get(type(v), type(v).__name__)
