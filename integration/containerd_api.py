"""The one containerd API call ctr 1.6 lacks: Tasks.Update (what `task update` of later ctr
versions, and Kubernetes' in-place resize, send).  The request is encoded by hand: it has two
fields, and the resources travel as a google.protobuf.Any whose value is the JSON of the
runtime-spec LinuxResources (containerd's typeurl registers that Go type, not a protobuf).
The runc shim turns it into `<runtime> update --resources - ID` with the JSON on stdin.
"""

import json

TASKS_UPDATE = "/containerd.services.tasks.v1.Tasks/Update"
RESOURCES_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, data):
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def update_request(container_id, resources):
    any_ = _field(1, RESOURCES_TYPE.encode()) + _field(2, json.dumps(resources).encode())
    return _field(1, container_id.encode()) + _field(2, any_)


def update_task(socket, namespace, container_id, resources, timeout=30):
    import grpc
    with grpc.insecure_channel(f"unix://{socket}") as ch:
        call = ch.unary_unary(TASKS_UPDATE)
        return call(update_request(container_id, resources), timeout=timeout,
                    metadata=[("containerd-namespace", namespace)])
