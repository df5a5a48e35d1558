"""A small protocol-buffers wire codec: messages described by their field numbers, encoded
from and decoded to dicts, without generated code or the protobuf package (CRIU's RPC,
criu.py; the CRI tests use it too).

A description is {message name: {field name: (number, type)}}, with types "s" string,
"y" bytes, "i" int32/int64/uint32/uint64/enum (varint; negative as 64-bit two's complement,
as protobuf sends int32 too), "b" bool, "map" map<string,string>, or a message name; a
leading "*" repeats the field.  Fields absent from a dict are not sent; fields of an answer
that the description does not name are skipped.
"""

_ENTRY = {"key": (1, "s"), "value": (2, "s")}


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _one(messages, num, kind, value):
    if kind == "i" or kind == "b":
        return _varint(num << 3) + _varint(int(value))
    if kind == "s":
        value = value.encode()
    elif kind == "map":
        return b"".join(_one(messages, num, _ENTRY, {"key": k, "value": v}) for k, v in value.items())
    elif kind != "y":
        value = encode(messages, kind, value)
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def encode(messages, name, doc):
    """The wire form of message `name` (a name in `messages`, or a description) from a dict."""
    fields = messages[name] if isinstance(name, str) else name
    out = bytearray()
    for field, value in doc.items():
        num, kind = fields[field]  # KeyError: a field the description does not have
        if kind.startswith("*"):
            for v in value:
                out += _one(messages, num, kind[1:], v)
        else:
            out += _one(messages, num, kind, value)
    return bytes(out)


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _raw(data):
    """(field number, wire type, value) of each field on the wire."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(data, i)
        elif wire == 2:
            n, i = _read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wire == 1:
            v, i = int.from_bytes(data[i:i + 8], "little"), i + 8
        elif wire == 5:
            v, i = int.from_bytes(data[i:i + 4], "little"), i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} (field {num}) not understood")
        yield num, wire, v


def _value(messages, kind, v):
    if kind == "i":
        return v - (1 << 64) if v >= 1 << 63 else v
    if kind == "b":
        return bool(v)
    if kind == "s":
        return bytes(v).decode()
    if kind == "y":
        return bytes(v)
    return decode(messages, kind, v)


def decode(messages, name, data):
    """A dict of the fields of message `name` in `data` (absent fields are absent)."""
    fields = messages[name] if isinstance(name, str) else name
    by_num = {num: (field, kind) for field, (num, kind) in fields.items()}
    doc = {}
    for num, wire, v in _raw(bytes(data)):
        if num not in by_num:
            continue
        field, kind = by_num[num]
        if kind == "map":
            entry = decode(messages, _ENTRY, v)
            doc.setdefault(field, {})[entry.get("key", "")] = entry.get("value", "")
        elif kind.startswith("*"):
            if kind == "*i" and wire == 2:  # packed
                i, vals = 0, []
                while i < len(v):
                    x, i = _read_varint(v, i)
                    vals.append(_value(messages, "i", x))
                doc.setdefault(field, []).extend(vals)
            else:
                doc.setdefault(field, []).append(_value(messages, kind[1:], v))
        else:
            doc[field] = _value(messages, kind, v)
    return doc
