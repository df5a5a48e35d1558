"""Our small validator against jsonschema, on our own schema, for good and bad configs."""


import jsonschema
import pytest

from pyrunc.commands.spec import default_spec
from pyrunc.errors import PyruncError
from pyrunc.schema import load_schema, validate

SCHEMA = load_schema("config-schema.json")


def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def good_configs():
    full = default_spec()
    full["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    full["linux"]["timeOffsets"] = {"boottime": {"secs": 1, "nanosecs": 2}}
    full["linux"]["devices"] = [{"type": "c", "path": "/dev/x", "major": 1, "minor": 3, "fileMode": 0o666}]
    full["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    full["hooks"] = {"prestart": [{"path": "/bin/true", "args": ["true"], "timeout": 5}]}
    full["annotations"] = {"a": "b"}
    full["somethingNew"] = {"unknown": "fields are allowed"}
    return [default_spec(), default_spec(rootless=True), full]


def bad_configs():
    def mk(path, value):
        c = default_spec()
        node = c
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        return c
    yield mk(["ociVersion"], 1)
    yield mk(["process", "user", "uid"], -1)
    yield mk(["process", "user", "uid"], "0")
    yield mk(["process", "args"], "sh")
    yield mk(["process", "terminal"], "yes")
    yield mk(["linux", "namespaces"], [{"type": "bogus"}])
    yield mk(["linux", "rootfsPropagation"], "up")
    yield mk(["mounts"], [{"source": "x"}])
    yield mk(["root"], {"readonly": True})
    yield mk(["process", "rlimits"], [{"type": "RLIMIT_NOFILE", "soft": 1}])
    yield mk(["process", "capabilities", "bounding"], [9])  # (names: any string, warned about)
    yield mk(["linux", "devices"], [{"type": "x", "path": "/dev/x"}])
    yield mk(["annotations"], {"a": 1})
    yield mk(["process", "oomScoreAdj"], 5000)
    c = default_spec()
    del c["ociVersion"]
    yield c


@pytest.mark.parametrize("cfg", good_configs())
def test_good(cfg):
    jsonschema.validate(cfg, SCHEMA)
    validate(cfg, SCHEMA)


@pytest.mark.parametrize("cfg", list(bad_configs()))
def test_bad_agrees_with_jsonschema(cfg):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cfg, SCHEMA)
    with pytest.raises(PyruncError):
        validate(cfg, SCHEMA)


def test_error_names_the_path():
    c = default_spec()
    c["process"]["user"]["uid"] = "root"
    with pytest.raises(PyruncError, match=r"process\.user\.uid: expected integer, got string"):
        validate(c, SCHEMA)
    c = default_spec()
    c["mounts"][2]["options"] = [1]
    with pytest.raises(PyruncError, match=r"mounts\[2\]\.options\[0\]"):
        validate(c, SCHEMA)


SAMPLES = ["", "/", "/a", "a/", "CAP_", "CAP_KILL", "CAP_kill", "CAP_SYS_ADMIN", "XCAP_KILL", "RLIMIT_",
           "RLIMIT_NOFILE", "RLIMIT_NO_FILE", "rwm", "rw", "", "x", "rwmx", "1.0.0", "1.0", "1.0.2-dev",
           "1.0.0+build.1", "1.0.0-rc.1+b", "01.2.3", "1.2.3-", "1.2.3+", "a.b.c", "1.2.3.4", "1.2.3-α"]


@pytest.mark.parametrize("pattern", sorted(__import__("pyrunc.schema").schema.FAST_PATTERNS))
def test_fast_patterns_agree_with_re(pattern):
    import re

    from pyrunc.schema import FAST_PATTERNS
    for s in SAMPLES:
        # (re's $ also matches before a final newline; the fast checks refuse it: stricter)
        assert FAST_PATTERNS[pattern](s) == bool(re.search(pattern, s)), (pattern, s)
