"""cffi build of pyrunc._native: the in-process helpers that Python 3.11 lacks.

- the child-subreaper flag (create and run reap a failed init themselves);
- bpf(2) for cgroup v2 device rules: load a BPF_PROG_TYPE_CGROUP_DEVICE program, attach it
  to a cgroup (BPF_F_ALLOW_MULTI, as runc), list and detach what was attached before.
"""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
int pyrunc_set_subreaper(void);
int pyrunc_bpf_prog_load(const char *insns, unsigned int count, char *log, unsigned int logsize);
int pyrunc_bpf_attach(int cgroup_fd, int prog_fd);
int pyrunc_bpf_query(int cgroup_fd, unsigned int *ids, unsigned int *count);
int pyrunc_bpf_detach_id(int cgroup_fd, unsigned int id);
""")
ffibuilder.set_source("pyrunc._native", """
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

static int pyrunc_set_subreaper(void)
{
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

static int sys_bpf(int cmd, union bpf_attr *a)
{
    return (int)syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static int pyrunc_bpf_prog_load(const char *insns, unsigned int count, char *log, unsigned int logsize)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insn_cnt = count;
    a.insns = (uint64_t)(uintptr_t)insns;
    a.license = (uint64_t)(uintptr_t)"Apache";
    if (log) {
        a.log_level = 1;
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = logsize;
    }
    return sys_bpf(BPF_PROG_LOAD, &a);   /* the kernel makes bpf fds close-on-exec */
}

static int pyrunc_bpf_attach(int cgroup_fd, int prog_fd)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = cgroup_fd;
    a.attach_bpf_fd = prog_fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    return sys_bpf(BPF_PROG_ATTACH, &a);
}

static int pyrunc_bpf_query(int cgroup_fd, unsigned int *ids, unsigned int *count)
{
    union bpf_attr a;
    int r;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = cgroup_fd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = *count;
    r = sys_bpf(BPF_PROG_QUERY, &a);
    *count = a.query.prog_cnt;
    return r;
}

static int pyrunc_bpf_detach_id(int cgroup_fd, unsigned int id)
{
    union bpf_attr a;
    int fd, r;
    memset(&a, 0, sizeof(a));
    a.prog_id = id;
    fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
    if (fd < 0)
        return fd;
    memset(&a, 0, sizeof(a));
    a.target_fd = cgroup_fd;
    a.attach_bpf_fd = fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    r = sys_bpf(BPF_PROG_DETACH, &a);
    close(fd);
    return r;
}
""")

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
