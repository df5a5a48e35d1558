/* pyrunc plan operations: the interface between pyrunc (Python) and pyrunc-init (C).
 *
 * The numbers below are the wire format; pyrunc/plan.py carries the same table and
 * tests/test_plan.py checks that both agree.  See docs/plan.md for the meaning of each
 * operation and of its arguments.  Bump PLAN_VERSION on any incompatible change. */
#ifndef PYRUNC_PLAN_OPS_H
#define PYRUNC_PLAN_OPS_H

#define PLAN_MAGIC 0x31505250u /* "PRP1" little endian */
#define PLAN_VERSION 1

enum plan_op {
	OP_SETNS = 1,          /* path, nstype                         (stage 1) */
	OP_TIMENS = 2,         /* offsets text                         (stage 1) */
	OP_CLONE = 3,          /* clone flags; later ops run in the child (stage 2) */
	OP_WAIT_GO = 4,        /* wait until pyrunc has the pid (and wrote the id maps); 1: become root */
	OP_SETSID = 5,
	OP_PROC_WRITE = 6,     /* path relative to the host procfs, value */
	OP_PROPAGATION = 7,    /* path ("/"), mount flags: the host side before the rootfs */
	OP_ROOTFS = 8,         /* host path of the rootfs: bind it onto itself, open it */
	OP_MKDIR = 9,          /* path in root, mode */
	OP_MOUNT = 10,         /* src, dst, fstype, msflags, data, mkkind, propagation,
	                          attr_set, attr_clr, rec_attr_set, rec_attr_clr */
	OP_MKNOD = 11,         /* path, type, major, minor, mode, uid, gid */
	OP_BINDDEV = 12,       /* path, host path, mode, uid, gid */
	OP_SYMLINK = 13,       /* target, link path */
	OP_MASK = 14,          /* path */
	OP_READONLY = 15,      /* path */
	OP_CONSOLE = 16,       /* socket path, rows, cols */
	OP_EXECFIFO = 17,      /* fd number of an O_PATH descriptor of the exec fifo */
	OP_ROOT_READONLY = 18,
	OP_PIVOT = 19,         /* "pivot" or "chroot" */
	OP_ROOT_PROPAGATION = 20, /* mount flags for "/" after pivot */
	OP_HOSTNAME = 21,
	OP_DOMAINNAME = 22,
	OP_RLIMIT = 23,        /* resource, soft, hard */
	OP_USER = 24,          /* uid, gid, "g1,g2,…" or "-" to leave groups alone */
	OP_CAPS = 25,          /* bounding, effective, permitted, inheritable, ambient (hex) */
	OP_UMASK = 26,
	OP_NNP = 27,
	OP_CWD = 28,
	OP_LOOKUP = 29,        /* program, PATH */
	OP_READY = 30,
	OP_WAIT_START = 31,
	OP_SECCOMP = 32,       /* raw BPF program, flags */
	OP_EXEC = 33,          /* nfds to keep above 2, argc, argv…, env… */
	OP_KEYRING = 34,       /* name of a new session keyring to join */
	OP_SETNS_FD = 35,      /* inherited namespace fd, nstype          (stage 1) */
	OP_ROOT_CURRENT = 36,  /* the current root is the container's (exec) */
	OP_SYNC_HOOKS = 37,    /* send HOOKS, read the state JSON for the hooks run by the init */
	OP_HOOK = 38,          /* label, path, cwd, timeout, argc, argv…, "", env… */
	OP_CGROUP_JOIN = 39,   /* cgroup dirs: "v1:DIR" (join now) or "v2:DIR" (at the CLONE) */
	OP_MAX = 40
};

#endif
