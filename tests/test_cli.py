"""The hand-made command line parser: runc's flag forms."""

import pytest

from pyrunc import cli
from pyrunc.errors import PyruncError


def test_global_forms():
    g, rest = cli.parse(["--root", "/r", "--log=/l", "--log-format", "json", "--debug", "state", "x"])
    assert (g.root, g.log, g.log_format, g.debug) == ("/r", "/l", "json", True)
    assert rest == ["state", "x"]
    g, rest = cli.parse(["-root", "/r", "list"])
    assert g.root == "/r" and rest == ["list"]


def test_unknown_global_flag():
    with pytest.raises(PyruncError, match="not defined"):
        cli.parse(["--nope", "list"])


def test_command_flags_anywhere():
    a = cli.Args()
    pos = cli._parse_flags(["x", "--bundle", "/b", "--pid-file=/p", "-d"], cli._RUN, a, 1)
    assert pos == ["x"] and (a.bundle, a.pid_file, a.detach) == ("/b", "/p", True)
    a = cli.Args()
    pos = cli._parse_flags(["-b", "/b", "--preserve-fds", "2", "--detach=false", "y"], cli._RUN, a, 1)
    assert pos == ["y"] and a.preserve_fds == 2 and a.detach is False


def test_bad_values():
    with pytest.raises(PyruncError, match="not a number"):
        cli._parse_flags(["--preserve-fds", "two"], cli._CREATE, cli.Args(), 1)
    with pytest.raises(PyruncError, match="needs an argument"):
        cli._parse_flags(["--bundle"], cli._CREATE, cli.Args(), 1)


def test_double_dash():
    pos = cli._parse_flags(["--", "-x"], cli._CREATE, cli.Args(), 1)
    assert pos == ["-x"]


def test_version_text(monkeypatch):
    lines = cli.version_text().splitlines()
    assert lines[0].startswith("pyrunc version ") and lines[1].startswith("commit: ")
    assert lines[2] == "spec: 1.3.0"
    # built outside a git checkout: no commit line, as runc
    import sys
    import types
    monkeypatch.setitem(sys.modules, "pyrunc._build", types.SimpleNamespace(COMMIT=""))
    lines = cli.version_text().splitlines()
    assert lines[0].startswith("pyrunc version ") and lines[1] == "spec: 1.3.0"
    assert not any(line.startswith("commit") for line in lines)


def test_main_errors(capsys):
    assert cli.main(["nosuch"]) == 1
    assert "no such command" in capsys.readouterr().err
    assert cli.main(["--root", "/nonexistent-pyrunc-root", "checkpoint", "x"]) == 1
    assert "container 'x' does not exist" in capsys.readouterr().err
    assert cli.main(["restore", "--bogus", "x"]) == 1
    assert "flag provided but not defined: -bogus" in capsys.readouterr().err
    assert cli.main(["--root", "/nonexistent-pyrunc-root", "exec", "x", "true"]) == 255
    assert "exec failed: container 'x' does not exist" in capsys.readouterr().err


def test_features_document_is_valid_and_truthful():
    """`pyrunc features` validates against oci-spec/features-schema.json (with jsonschema
    and with pyrunc's own validator) and claims only what is implemented."""
    import json
    import os
    import subprocess
    import sys

    import jsonschema
    exe = os.path.join(os.path.dirname(sys.executable), "pyrunc")
    r = subprocess.run([exe, "features"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r
    doc = json.loads(r.stdout)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    schema = json.load(open(os.path.join(here, "oci-spec", "features-schema.json")))
    jsonschema.validate(doc, schema)
    from pyrunc.schema import validate
    validate(doc, schema)
    from pyrunc import mountopts
    assert doc["ociVersionMax"] == "1.3.0"
    assert not set(mountopts.UNSUPPORTED) & set(doc["mountOptions"])
    assert "rro" in doc["mountOptions"] and "rbind" in doc["mountOptions"]
    sc = doc["linux"]["seccomp"]
    assert sc["enabled"] and "SCMP_ACT_ERRNO" in sc["actions"] and "SCMP_ACT_NOTIFY" in sc["actions"]
    assert "SCMP_CMP_MASKED_EQ" in sc["operators"] and "SCMP_ARCH_X86_64" in sc["archs"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in sc["supportedFlags"]
    assert doc["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                            "poststart", "poststop"]
    assert set(doc["linux"]["namespaces"]) == {"mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"}
