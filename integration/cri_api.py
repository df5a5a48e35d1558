"""Kubernetes' Container Runtime Interface (CRI v1), the part kubelet uses for a pod's life,
spoken to containerd's CRI plugin over gRPC without generated code.

The messages are described here by their field numbers as the CRI API (k8s.io/cri-api,
runtime/v1/api.proto) defines them, and encoded and decoded by pyrunc's own small protobuf
wire codec (pyrunc/protowire.py, which also speaks CRIU's RPC): a message is a dict of field
names; unknown fields of an answer are skipped.
"""

RUNTIME = "/runtime.v1.RuntimeService/"

POD, CONTAINER, NODE = 0, 1, 2  # NamespaceMode
CONTAINER_STATES = {0: "CREATED", 1: "RUNNING", 2: "EXITED", 3: "UNKNOWN"}
SANDBOX_STATES = {0: "READY", 1: "NOTREADY"}

MESSAGES = {
    "VersionRequest": {"version": (1, "s")},
    "VersionResponse": {"version": (1, "s"), "runtime_name": (2, "s"), "runtime_version": (3, "s"),
                        "runtime_api_version": (4, "s")},
    "PodSandboxMetadata": {"name": (1, "s"), "uid": (2, "s"), "namespace": (3, "s"), "attempt": (4, "i")},
    "NamespaceOption": {"network": (1, "i"), "pid": (2, "i"), "ipc": (3, "i"), "target_id": (4, "s")},
    "Int64Value": {"value": (1, "i")},
    "UInt64Value": {"value": (1, "i")},
    "LinuxSandboxSecurityContext": {"namespace_options": (1, "NamespaceOption"), "run_as_user": (3, "Int64Value"),
                                    "readonly_rootfs": (4, "b"), "privileged": (6, "b")},
    "LinuxContainerResources": {"cpu_period": (1, "i"), "cpu_quota": (2, "i"), "cpu_shares": (3, "i"),
                                "memory_limit_in_bytes": (4, "i"), "oom_score_adj": (5, "i"),
                                "cpuset_cpus": (6, "s"), "cpuset_mems": (7, "s"), "unified": (9, "map"),
                                "memory_swap_limit_in_bytes": (10, "i")},
    "LinuxPodSandboxConfig": {"cgroup_parent": (1, "s"), "security_context": (2, "LinuxSandboxSecurityContext"),
                              "sysctls": (3, "map")},
    "PodSandboxConfig": {"metadata": (1, "PodSandboxMetadata"), "hostname": (2, "s"), "log_directory": (3, "s"),
                         "labels": (6, "map"), "annotations": (7, "map"), "linux": (8, "LinuxPodSandboxConfig")},
    "RunPodSandboxRequest": {"config": (1, "PodSandboxConfig"), "runtime_handler": (2, "s")},
    "RunPodSandboxResponse": {"pod_sandbox_id": (1, "s")},
    "PodSandboxIdRequest": {"pod_sandbox_id": (1, "s")},
    "PodSandboxStatusRequest": {"pod_sandbox_id": (1, "s"), "verbose": (2, "b")},
    "PodIP": {"ip": (1, "s")},
    "PodSandboxNetworkStatus": {"ip": (1, "s"), "additional_ips": (2, "*PodIP")},
    "PodSandboxStatus": {"id": (1, "s"), "metadata": (2, "PodSandboxMetadata"), "state": (3, "i"),
                         "network": (5, "PodSandboxNetworkStatus"), "runtime_handler": (9, "s")},
    "PodSandboxStatusResponse": {"status": (1, "PodSandboxStatus"), "info": (2, "map")},
    "ListPodSandboxRequest": {},
    "PodSandbox": {"id": (1, "s"), "metadata": (2, "PodSandboxMetadata"), "state": (3, "i"),
                   "runtime_handler": (8, "s")},
    "ListPodSandboxResponse": {"items": (1, "*PodSandbox")},
    "ContainerMetadata": {"name": (1, "s"), "attempt": (2, "i")},
    "ImageSpec": {"image": (1, "s"), "annotations": (2, "map")},
    "KeyValue": {"key": (1, "s"), "value": (2, "s")},
    "Mount": {"container_path": (1, "s"), "host_path": (2, "s"), "readonly": (3, "b")},
    "Capability": {"add_capabilities": (1, "*s"), "drop_capabilities": (2, "*s")},
    "LinuxContainerSecurityContext": {"capabilities": (1, "Capability"), "privileged": (2, "b"),
                                      "namespace_options": (3, "NamespaceOption"), "run_as_user": (5, "Int64Value"),
                                      "readonly_rootfs": (7, "b"), "supplemental_groups": (8, "*i"),
                                      "no_new_privs": (11, "b"), "run_as_group": (12, "Int64Value"),
                                      "masked_paths": (13, "*s"), "readonly_paths": (14, "*s")},
    "LinuxContainerConfig": {"resources": (1, "LinuxContainerResources"),
                             "security_context": (2, "LinuxContainerSecurityContext")},
    "ContainerConfig": {"metadata": (1, "ContainerMetadata"), "image": (2, "ImageSpec"), "command": (3, "*s"),
                        "args": (4, "*s"), "working_dir": (5, "s"), "envs": (6, "*KeyValue"), "mounts": (7, "*Mount"),
                        "labels": (9, "map"), "annotations": (10, "map"), "log_path": (11, "s"), "stdin": (12, "b"),
                        "stdin_once": (13, "b"), "tty": (14, "b"), "linux": (15, "LinuxContainerConfig")},
    "CreateContainerRequest": {"pod_sandbox_id": (1, "s"), "config": (2, "ContainerConfig"),
                               "sandbox_config": (3, "PodSandboxConfig")},
    "CreateContainerResponse": {"container_id": (1, "s")},
    "ContainerIdRequest": {"container_id": (1, "s")},
    "StopContainerRequest": {"container_id": (1, "s"), "timeout": (2, "i")},
    "ContainerStatusRequest": {"container_id": (1, "s"), "verbose": (2, "b")},
    "ContainerStatus": {"id": (1, "s"), "metadata": (2, "ContainerMetadata"), "state": (3, "i"),
                        "created_at": (4, "i"), "started_at": (5, "i"), "finished_at": (6, "i"),
                        "exit_code": (7, "i"), "reason": (10, "s"), "message": (11, "s"), "log_path": (15, "s")},
    "ContainerStatusResponse": {"status": (1, "ContainerStatus"), "info": (2, "map")},
    "ListContainersRequest": {},
    "Container": {"id": (1, "s"), "pod_sandbox_id": (2, "s"), "metadata": (3, "ContainerMetadata"), "state": (6, "i")},
    "ListContainersResponse": {"containers": (1, "*Container")},
    "UpdateContainerResourcesRequest": {"container_id": (1, "s"), "linux": (2, "LinuxContainerResources")},
    "ExecSyncRequest": {"container_id": (1, "s"), "cmd": (2, "*s"), "timeout": (3, "i")},
    "ExecSyncResponse": {"stdout": (1, "y"), "stderr": (2, "y"), "exit_code": (3, "i")},
    "ExecRequest": {"container_id": (1, "s"), "cmd": (2, "*s"), "tty": (3, "b"), "stdin": (4, "b"),
                    "stdout": (5, "b"), "stderr": (6, "b")},
    "ExecResponse": {"url": (1, "s")},
    "CpuUsage": {"timestamp": (1, "i"), "usage_core_nano_seconds": (2, "UInt64Value")},
    "MemoryUsage": {"timestamp": (1, "i"), "working_set_bytes": (2, "UInt64Value"),
                    "usage_bytes": (4, "UInt64Value")},
    "ContainerAttributes": {"id": (1, "s"), "metadata": (2, "ContainerMetadata")},
    "ContainerStats": {"attributes": (1, "ContainerAttributes"), "cpu": (2, "CpuUsage"), "memory": (3, "MemoryUsage")},
    "ContainerStatsResponse": {"stats": (1, "ContainerStats")},
    "Empty": {},
}

# method: (request message, response message)
METHODS = {
    "Version": ("VersionRequest", "VersionResponse"),
    "RunPodSandbox": ("RunPodSandboxRequest", "RunPodSandboxResponse"),
    "StopPodSandbox": ("PodSandboxIdRequest", "Empty"),
    "RemovePodSandbox": ("PodSandboxIdRequest", "Empty"),
    "PodSandboxStatus": ("PodSandboxStatusRequest", "PodSandboxStatusResponse"),
    "ListPodSandbox": ("ListPodSandboxRequest", "ListPodSandboxResponse"),
    "CreateContainer": ("CreateContainerRequest", "CreateContainerResponse"),
    "StartContainer": ("ContainerIdRequest", "Empty"),
    "StopContainer": ("StopContainerRequest", "Empty"),
    "RemoveContainer": ("ContainerIdRequest", "Empty"),
    "ListContainers": ("ListContainersRequest", "ListContainersResponse"),
    "ContainerStatus": ("ContainerStatusRequest", "ContainerStatusResponse"),
    "UpdateContainerResources": ("UpdateContainerResourcesRequest", "Empty"),
    "ExecSync": ("ExecSyncRequest", "ExecSyncResponse"),
    "Exec": ("ExecRequest", "ExecResponse"),
    "ContainerStats": ("ContainerStatsRequest", "ContainerStatsResponse"),
}
MESSAGES["ContainerStatsRequest"] = MESSAGES["ContainerIdRequest"]


def encode(name, doc):
    from pyrunc import protowire
    return protowire.encode(MESSAGES, name, doc)


def decode(name, data):
    from pyrunc import protowire
    return protowire.decode(MESSAGES, name, data)


class RuntimeService:
    """CRI's RuntimeService on a containerd socket: `svc.RunPodSandbox(config=..., ...)`
    sends the request built from the keyword arguments and returns the decoded answer."""

    def __init__(self, socket, timeout=120):
        import grpc
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.timeout = timeout

    def __getattr__(self, method):
        req, resp = METHODS[method]
        call = self.channel.unary_unary(RUNTIME + method, request_serializer=lambda d: encode(req, d),
                                        response_deserializer=lambda b: decode(resp, b))

        def invoke(_deadline=None, **doc):  # (not `timeout`: some requests have a field of that name)
            return call(doc, timeout=_deadline or self.timeout)
        return invoke

    def close(self):
        self.channel.close()
