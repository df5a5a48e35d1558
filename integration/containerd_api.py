"""The one containerd API call ctr 1.6 lacks: Tasks.Update (what `task update` of later ctr
versions, and Kubernetes' in-place resize, send).  The request is encoded by hand: it has two
fields, and the resources travel as a google.protobuf.Any whose value is the JSON of the
runtime-spec LinuxResources (containerd's typeurl registers that Go type, not a protobuf).
The runc shim turns it into `<runtime> update --resources - ID` with the JSON on stdin.
"""

import json

TASKS_UPDATE = "/containerd.services.tasks.v1.Tasks/Update"
RESOURCES_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"


MESSAGES = {  # (pyrunc's protobuf wire codec, pyrunc/protowire.py)
    "Any": {"type_url": (1, "s"), "value": (2, "y")},
    "UpdateTaskRequest": {"container_id": (1, "s"), "resources": (2, "Any")},
}


def update_request(container_id, resources):
    from pyrunc import protowire
    return protowire.encode(MESSAGES, "UpdateTaskRequest", {
        "container_id": container_id,
        "resources": {"type_url": RESOURCES_TYPE, "value": json.dumps(resources).encode()}})


def update_task(socket, namespace, container_id, resources, timeout=30):
    import grpc
    with grpc.insecure_channel(f"unix://{socket}") as ch:
        call = ch.unary_unary(TASKS_UPDATE)
        return call(update_request(container_id, resources), timeout=timeout,
                    metadata=[("containerd-namespace", namespace)])
