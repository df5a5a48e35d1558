import json

import pytest

from pyrunc import fastjson

DOCS = [{"a": [1, 2.5, None, True, False, "é\n\"x\""], "b": {}, "c": [], "d": {"e": -3}}, [], "s", 0,
        {"ociVersion": "1.3.0", "pid": 12, "annotations": {"k": "v"}}]


@pytest.mark.parametrize("doc", DOCS)
def test_roundtrip_matches_json(doc):
    assert fastjson.loads(json.dumps(doc)) == doc
    assert json.loads(fastjson.dumps(doc)) == doc
    assert fastjson.dumps(doc) == json.dumps(doc, separators=(",", ":"))  # compact, as Go writes it
    assert fastjson.dumps(doc, indent=2) == json.dumps(doc, indent=2)


@pytest.mark.parametrize("bad", ['{"a": ', '{not json', "[1,]", '{"a" 1}', "NaN", '"\\q"', "1 2", "", b"\xff"])
def test_errors(bad):
    with pytest.raises(fastjson.JSONError):
        fastjson.loads(bad)


def test_position():
    with pytest.raises(fastjson.JSONError, match="line 2 column"):
        fastjson.loads('{\n  "a": }')


def test_errors_without_the_json_package():
    """The C scanner reports an unquoted key through json.decoder; pyrunc never imports the
    json package, and the error must still be a JSONError (it was a SystemError)."""
    import subprocess
    import sys
    code = ("import sys; from pyrunc import fastjson\n"
            "for bad in ('{not json', '{1: 2}', '{\"a\": tru}'):\n"
            "    try:\n        fastjson.loads(bad)\n    except fastjson.JSONError:\n        pass\n"
            "assert 'json' not in sys.modules, 'json was imported'\n")
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stderr
