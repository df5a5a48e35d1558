"""pyrunc's protobuf wire codec (CRIU's RPC, the CRI tests): the encodings protobuf defines,
checked against bytes worked out by hand from the wire format."""

from pyrunc import criu, protowire

M = {
    "inner": {"key": (1, "s"), "n": (2, "i")},
    "outer": {"id": (1, "i"), "name": (2, "s"), "flag": (3, "b"), "blob": (4, "y"), "inner": (5, "inner"),
              "many": (6, "*inner"), "ids": (7, "*i"), "labels": (8, "map"), "words": (9, "*s")},
}


def test_scalars_by_hand():
    assert protowire.encode(M, "outer", {"id": 150}) == b"\x08\x96\x01"
    assert protowire.encode(M, "outer", {"name": "testing"}) == b"\x12\x07testing"
    assert protowire.encode(M, "outer", {"flag": True}) == b"\x18\x01"
    # a negative int32/int64 is ten bytes: the 64-bit two's complement
    assert protowire.encode(M, "outer", {"id": -1}) == b"\x08" + b"\xff" * 9 + b"\x01"
    assert protowire.decode(M, "outer", b"\x08" + b"\xff" * 9 + b"\x01") == {"id": -1}


def test_round_trip():
    doc = {"id": 7, "name": "ünïcode", "flag": False, "blob": b"\x00\xff", "inner": {"key": "k", "n": 2},
           "many": [{"key": "a"}, {"key": "b", "n": -3}], "ids": [1, 2, 300], "labels": {"x": "1", "y": ""},
           "words": ["one", "two"]}
    assert protowire.decode(M, "outer", protowire.encode(M, "outer", doc)) == doc


def test_packed_repeated_and_unknown_fields():
    # field 7 packed (wire type 2) as protobuf 3 sends repeated scalars; field 15 unknown
    data = b"\x3a\x03\x01\x02\x03" + b"\x78\x05" + b"\x7d\x01\x02\x03\x04" + b"\x12\x01z"
    assert protowire.decode(M, "outer", data) == {"ids": [1, 2, 3], "name": "z"}


def test_a_criu_request():
    req = {"type": criu.DUMP, "opts": {"images_dir_fd": 5, "pid": 42, "log_level": 4, "leave_running": True,
                                       "ext_mnt": [{"key": "/a", "val": "/a"}], "external": ["net[1]:extRootNetNS"]}}
    data = protowire.encode(criu.MESSAGES, "criu_req", req)
    assert data.startswith(b"\x08\x01\x12")  # type = DUMP, then opts (field 2)
    back = protowire.decode(criu.MESSAGES, "criu_req", data)
    assert back == req
    resp = protowire.encode(criu.MESSAGES, "criu_resp", {"type": criu.NOTIFY, "success": True,
                                                          "notify": {"script": "post-restore", "pid": 9}})
    assert criu._decode(resp) == {"type": criu.NOTIFY, "success": True, "notify": {"script": "post-restore", "pid": 9}}
