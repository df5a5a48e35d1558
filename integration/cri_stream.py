"""An attached CRI Exec, as `kubectl exec` reaches it through the kubelet: the URL CRI's Exec
returned, opened as a WebSocket with the channel protocol (v4.channel.k8s.io) of the
streaming server containerd's CRI plugin runs.  Each binary frame starts with its channel:
0 stdin, 1 stdout, 2 stderr, 3 the exec's status (JSON), 4 terminal size.

Run as a program inside the network namespace where the streaming server listens (its
127.0.0.1): `cri_stream.py URL` sends its own stdin to the command and prints a JSON object
of what came back on each channel.  Standard library only.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import urllib.parse

PROTOCOL = "v4.channel.k8s.io"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's constant


def _send(sock, payload, opcode=2):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def _exactly(f, n):
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _frames(f):
    while True:
        try:
            b0, b1 = _exactly(f, 2)
        except EOFError:
            return
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", _exactly(f, 2))[0]
        elif n == 127:
            n = struct.unpack(">Q", _exactly(f, 8))[0]
        mask = _exactly(f, 4) if b1 & 0x80 else None
        payload = _exactly(f, n)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        yield b0 & 0x0F, payload


def exec_stream(url, stdin=b"", timeout=60):
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + (f"?{u.query}" if u.query else "")
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n").encode())
    f = sock.makefile("rb")
    status = f.readline().decode()
    headers = {}
    while True:
        line = f.readline().decode().strip()
        if not line:
            break
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if " 101 " not in status:
        raise RuntimeError(f"no WebSocket upgrade: {status.strip()}")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    if headers.get("sec-websocket-accept") != accept:
        raise RuntimeError(f"bad Sec-WebSocket-Accept in {headers}")
    if stdin:
        _send(sock, b"\x00" + stdin)
    out = {"protocol": headers.get("sec-websocket-protocol", ""), "stdout": b"", "stderr": b"", "status": b""}
    names = {1: "stdout", 2: "stderr", 3: "status"}
    for opcode, payload in _frames(f):
        if opcode == 8:  # close
            break
        if opcode == 9:  # ping
            _send(sock, payload, opcode=10)
        elif opcode in (1, 2) and payload and payload[0] in names:
            out[names[payload[0]]] += payload[1:]
    sock.close()
    return {k: v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in out.items()}


if __name__ == "__main__":
    print(json.dumps(exec_stream(sys.argv[1], sys.stdin.buffer.read())))
