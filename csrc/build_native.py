"""cffi build of pyrunc._native: the in-process helpers that Python 3.11 lacks.

- the child-subreaper flag (create and run reap a failed init themselves);
- bpf(2) for cgroup v2 device rules: load a BPF_PROG_TYPE_CGROUP_DEVICE program, attach it
  to a cgroup (BPF_F_ALLOW_MULTI, as runc), list and detach what was attached before;
- idmapped mounts: a user namespace with given maps (a child that exists just long enough
  for its maps and its ns fd), and a detached bind tree idmapped with it (open_tree +
  mount_setattr MOUNT_ATTR_IDMAP), made by pyrunc as root on the host because the
  container's init, in its own user namespace, is not privileged over the filesystem.
- umount2(2): a container without a mount namespace of its own leaves its mounts in the
  runtime's namespace, and delete detaches them.
- mount(2) MS_BIND|MS_REC: restore hands CRIU the rootfs as a mount point of its own.
"""

from cffi import FFI

ffibuilder = FFI()
ffibuilder.cdef("""
int pyrunc_set_subreaper(int on);
int pyrunc_get_subreaper(void);
int pyrunc_detach_mount(const char *path);
int pyrunc_bpf_prog_load(const char *insns, unsigned int count, char *log, unsigned int logsize);
int pyrunc_bpf_attach(int cgroup_fd, int prog_fd);
int pyrunc_bpf_query(int cgroup_fd, unsigned int *ids, unsigned int *count);
int pyrunc_bpf_detach_id(int cgroup_fd, unsigned int id);
int pyrunc_userns_fd(const char *uid_map, const char *gid_map);
int pyrunc_idmapped_tree(const char *path, int userns_fd, int rbind, int recursive);
int pyrunc_open_tree(const char *path, int rbind);
int pyrunc_rbind(const char *source, const char *target);
""")
ffibuilder.set_source("pyrunc._native", """
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sched.h>
#include <sys/wait.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define PYRUNC_MOUNT_ATTR_IDMAP 0x00100000ULL

struct pyrunc_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), e = 0;
    size_t len = strlen(text);
    if (fd < 0)
        return -errno;
    if (write(fd, text, len) != (ssize_t)len)
        e = -errno;
    close(fd);
    return e;
}

/* The fd of a new user namespace with these maps ("id hostid size" lines), or -errno. */
static int pyrunc_userns_fd(const char *uid_map, const char *gid_map)
{
    int p[2], fd = -1, e;
    char path[64];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    /* fork-like raw clone: the child only waits for EOF and exits */
    pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    e = -errno;
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return e;
    }
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    e = write_file(path, uid_map);
    if (!e) {
        snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
        e = write_file(path, gid_map);
    }
    if (!e) {
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            e = -errno;
    }
    close(p[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return e ? e : fd;
}

/* A detached copy of the mount at path (rbind: with its submounts), idmapped with the
 * user namespace userns_fd (recursive: the submounts too); the fd, or -errno. */
static int pyrunc_idmapped_tree(const char *path, int userns_fd, int rbind, int recursive)
{
    struct pyrunc_mount_attr a = {.attr_set = PYRUNC_MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path,
                          OPEN_TREE_CLONE | O_CLOEXEC | (rbind ? AT_RECURSIVE : 0));
    if (fd < 0)
        return -errno;
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* A detached copy of the mount at path (rbind: with its submounts); the fd, or -errno. */
static int pyrunc_open_tree(const char *path, int rbind)
{
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path,
                          OPEN_TREE_CLONE | O_CLOEXEC | (rbind ? AT_RECURSIVE : 0));
    return fd < 0 ? -errno : fd;
}

static int pyrunc_rbind(const char *source, const char *target)
{
    return mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0 ? -errno : 0;
}

static int pyrunc_detach_mount(const char *path)
{
    return umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 ? -errno : 0;
}

static int pyrunc_set_subreaper(int on)
{
    return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0);
}

static int pyrunc_get_subreaper(void)
{
    int on = 0;
    return prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) < 0 ? -1 : on;
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
