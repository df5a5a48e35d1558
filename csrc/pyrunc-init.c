/* pyrunc-init: executes a plan compiled by pyrunc inside a new or existing container.
 *
 * It knows nothing about OCI: it reads a list of low-level operations (see plan_ops.h and
 * docs/plan.md) from the plan fd and runs them in order, reporting progress and the first
 * failure ("ERR <what>: <strerror>") on the sync fd.  Usage (started by pyrunc only):
 *
 *     pyrunc-init PLAN_FD SYNC_FD KEEP_FDS
 *
 * Paths inside the container are always resolved with openat2(RESOLVE_IN_ROOT) against a
 * descriptor of the root, so a symlink in the rootfs can never lead outside of it.  Every
 * write to /proc goes through the host procfs opened at start, never through a path that the
 * container's mounts could have replaced. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "plan_ops.h"

#ifndef STATX_MNT_ID /* a libc without statx (musl 1.2.3): the kernel's own definitions */
#include <linux/stat.h>
#endif

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

struct mount_attr_ {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

static int sync_fd = -1;    /* to pyrunc; closed once READY is sent */
static int plan_fd = -1;    /* from pyrunc */
static int rootfd = -1;	    /* the container's root, O_PATH */
static int procfd = -1;	    /* the host procfs, checked to be procfs */
static int fifo_fd = -1;    /* O_PATH to the exec fifo */
static int selffd_dir = -1; /* /proc/self/fd of this process, in the host procfs */
static int cgroup2_fd = -1; /* the cgroup v2 directory the CLONE puts its child into */
static int start_fd = -1;   /* the exec fifo, open for writing from `start` until execve */
static char *hook_state[2]; /* the state JSON for hooks run by the init: creating, created */
static size_t hook_state_len[2];
static const char *cur_op = "start";
static int cur_index = -1; /* the op being run, reported with a failure */
static char exec_path[PATH_MAX];
static int have_caps;
static uint64_t cap_eff, cap_perm, cap_inh, cap_amb;

/* ---------- errors ---------- */

/* A failure, framed so that nothing of it is lost and pyrunc knows which op failed and
 * why: "ERR <op index> <errno> <length>\n" and then exactly <length> bytes of message (which
 * may hold several lines, say a hook's output).  Before READY it goes to pyrunc create or
 * exec on the sync pipe; after the exec fifo is open, to pyrunc start through the fifo. */
static void report(int err, const char *msg)
{
	char line[4200];
	int n;

	if (sync_fd >= 0 || start_fd >= 0) {
		size_t len = strlen(msg);
		int fd = sync_fd >= 0 ? sync_fd : start_fd;
		n = snprintf(line, sizeof line, "ERR %d %d %zu\n", cur_index, err, len);
		if (write(fd, line, n) < 0 || write(fd, msg, len) < 0) {
			/* nothing we can do */
		}
	} else {
		n = snprintf(line, sizeof line, "pyrunc-init: %s\n", msg);
		if (write(2, line, n) < 0) {
		}
	}
}

static void __attribute__((noreturn, format(printf, 2, 3))) fail(int err, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (err && n >= 0 && n < (int)sizeof msg)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(err));
	report(err, msg);
	_exit(err == ENOENT ? 127 : (err == EACCES ? 126 : 1));
}

#define FAIL(...) fail(errno, __VA_ARGS__)

/* strerror as Go writes it (lower case: "no such file or directory"): the words engines
 * match on (dockerd maps exit codes 126/127 from "permission denied" and "no such file or
 * directory" in runc's message) */
static const char *go_err(int err)
{
	static char buf[128];
	snprintf(buf, sizeof buf, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] += 'a' - 'A';
	return buf;
}

/* fail with a message that already says why: errno goes to pyrunc in the frame only */
static void __attribute__((noreturn, format(printf, 2, 3))) fail_plain(int err, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	report(err, msg);
	_exit(err == ENOENT ? 127 : (err == EACCES ? 126 : 1));
}

static void send_line(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (write(sync_fd, line, n) != n)
		FAIL("write to pyrunc");
}

/* ---------- the plan ---------- */

struct op {
	uint16_t code;
	uint16_t argc;
	char **argv;
};

static void read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail(r < 0 ? errno : 0, "read plan%s", r == 0 ? ": unexpected end" : "");
		p += r;
		len -= r;
	}
}

static struct op *read_plan(size_t *nops)
{
	uint32_t hdr[3];
	char *buf, *p, *end;
	size_t n = 0, cap = 64;
	struct op *ops;

	read_full(plan_fd, hdr, sizeof hdr);
	if (hdr[0] != PLAN_MAGIC || hdr[1] != PLAN_VERSION)
		fail(0, "plan: bad magic or version %u (want %u)", hdr[1], PLAN_VERSION);
	if (hdr[2] > (64u << 20))
		fail(0, "plan: too large");
	buf = malloc(hdr[2] + 1);
	ops = malloc(cap * sizeof *ops);
	if (!buf || !ops)
		FAIL("malloc");
	read_full(plan_fd, buf, hdr[2]);
	p = buf;
	end = buf + hdr[2];
	while (p < end) {
		uint16_t code, argc;
		if (end - p < 4)
			fail(0, "plan: truncated op");
		memcpy(&code, p, 2);
		memcpy(&argc, p + 2, 2);
		p += 4;
		if (code == 0 || code >= OP_MAX || !plan_op_info[code].name)
			fail(0, "plan: unknown op %u", code);
		if (argc < plan_op_info[code].min || (plan_op_info[code].max >= 0 && argc > plan_op_info[code].max))
			fail(0, "plan: op %s has %u arguments", plan_op_info[code].name, argc);
		if (n == cap) {
			cap *= 2;
			ops = realloc(ops, cap * sizeof *ops);
			if (!ops)
				FAIL("realloc");
		}
		ops[n].code = code;
		ops[n].argc = argc;
		/* two NULL slots: op_exec may put HOME in the first without allocating */
		ops[n].argv = calloc(argc + 2, sizeof(char *));
		if (!ops[n].argv)
			FAIL("calloc");
		for (int i = 0; i < argc; i++) {
			uint32_t len;
			if (end - p < 4)
				fail(0, "plan: truncated argument");
			memcpy(&len, p, 4);
			p += 4;
			if (len == 0 || (size_t)(end - p) < len || p[len - 1] != '\0')
				fail(0, "plan: bad argument");
			ops[n].argv[i] = p;
			p += len;
		}
		n++;
	}
	*nops = n;
	return ops;
}

static unsigned long long num(const char *s)
{
	char *e;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &e, 0);
	if (errno || *e || e == s || s[0] == '-')
		fail(0, "%s: bad number '%s'", cur_op, s);
	return v;
}

/* a user or group id: 0 to 2^31-1, as runc allows.  (uid_t)-1 means "leave unchanged" to
 * setresuid(2) and chown(2): an id that reached a syscall as -1 would run the container as
 * whoever the executor is (root), so out-of-range ids are refused here too, not only by
 * pyrunc's checks. */
static unsigned id_num(const char *s)
{
	unsigned long long v = num(s);
	if (v > 2147483647ULL)
		fail(0, "%s: uids and gids must be in range 0-2147483647, not %s", cur_op, s);
	return (unsigned)v;
}

/* a number that may be -1 (none) */
static long long snum(const char *s)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 0);
	if (errno || *e || e == s || v < -1)
		fail(0, "%s: bad number '%s'", cur_op, s);
	return v;
}

/* a signed number (scheduler.nice) */
static long long inum(const char *s)
{
	char *e;
	long long v;

	errno = 0;
	v = strtoll(s, &e, 0);
	if (errno || *e || e == s)
		fail(0, "%s: bad number '%s'", cur_op, s);
	return v;
}

/* ---------- paths inside the root ---------- */

static int openat2_(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
	struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
	return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* Open a path of the container: symlinks are followed as if the root were "/". */
static int in_root(const char *path, int flags)
{
	if (rootfd < 0)
		fail(0, "%s: no root yet", cur_op);
	return openat2_(rootfd, rel(path), flags | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

static void split(const char *path, char *parent, size_t plen, const char **name)
{
	const char *slash;

	path = rel(path);
	slash = strrchr(path, '/');
	if (!slash) {
		snprintf(parent, plen, ".");
		*name = path;
	} else {
		snprintf(parent, plen, "%.*s", (int)(slash - path), path);
		*name = slash + 1;
	}
}

/* Resolve path inside the root as if the root were "/": symlinks met on the way are
 * followed by substituting their target (an absolute target restarts at the root), ".."
 * stops at the root.  The result names the same place that RESOLVE_IN_ROOT reaches, but
 * also tells where a dangling symlink points, so that missing directories are created
 * there, inside the root (what runc's SecureJoin does). */
static void secure_join(const char *path, char *out, size_t outlen)
{
	char rest[2 * PATH_MAX], cur[PATH_MAX] = "", *p;
	int links = 0;

	if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest)
		fail(ENAMETOOLONG, "resolve %s", path);
	p = rest;
	while (*p) {
		char comp[NAME_MAX + 1], next[PATH_MAX], target[PATH_MAX], tmp[2 * PATH_MAX];
		const char *name;
		char parent[PATH_MAX];
		size_t n;
		ssize_t tl;
		int pfd;
		char *e;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		n = e - p;
		if (n > NAME_MAX)
			fail(ENAMETOOLONG, "resolve %s", path);
		memcpy(comp, p, n);
		comp[n] = '\0';
		p = e;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *s = strrchr(cur, '/');
			if (s)
				*s = '\0';
			else
				cur[0] = '\0';
			continue;
		}
		if (snprintf(next, sizeof next, "%s%s%s", cur, cur[0] ? "/" : "", comp) >= (int)sizeof next)
			fail(ENAMETOOLONG, "resolve %s", path);
		split(next, parent, sizeof parent, &name);
		pfd = in_root(parent, O_PATH | O_DIRECTORY);
		tl = pfd < 0 ? -1 : readlinkat(pfd, name, target, sizeof target - 1);
		if (pfd >= 0)
			close(pfd);
		if (tl < 0) {
			strcpy(cur, next);
			continue;
		}
		if (++links > 40)
			fail(ELOOP, "resolve %s", path);
		target[tl] = '\0';
		if (snprintf(tmp, sizeof tmp, "%s/%s", target, p) >= (int)sizeof tmp)
			fail(ENAMETOOLONG, "resolve %s", path);
		if (target[0] == '/')
			cur[0] = '\0';
		strcpy(rest, tmp);
		p = rest;
	}
	if (snprintf(out, outlen, "/%s", cur) >= (int)outlen)
		fail(ENAMETOOLONG, "resolve %s", path);
}

static void mkdir_all(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len;

	secure_join(path, buf, sizeof buf);
	memmove(buf, rel(buf), strlen(rel(buf)) + 1);
	len = strlen(buf);
	for (size_t i = 1; i <= len; i++) {
		int fd;
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		fd = in_root(buf, O_PATH | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT) {
			char parent[PATH_MAX];
			const char *name;
			int pfd;
			split(buf, parent, sizeof parent, &name);
			pfd = in_root(parent, O_PATH | O_DIRECTORY);
			if (pfd < 0)
				FAIL("mkdir %s: open %s", path, parent);
			if (mkdirat(pfd, name, mode) < 0 && errno != EEXIST)
				FAIL("mkdir %s", path);
			close(pfd);
			fd = in_root(buf, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			FAIL("mkdir %s: component /%s", path, buf);
		close(fd);
		if (i < len)
			buf[i] = '/';
	}
}

/* The directory that will hold path's last component, created as needed.  Only the
 * parent is resolved: the last component is never followed, so a symlink planted there
 * (say /dev/null -> /proc/sys/kernel/core_pattern) is replaced, not written through. */
static int open_parent(const char *path, const char **name)
{
	static char last[NAME_MAX + 1];
	char parent[PATH_MAX], resolved[PATH_MAX];
	int pfd;

	split(path, parent, sizeof parent, name);
	if (strlen(*name) > NAME_MAX)
		fail(ENAMETOOLONG, "%s", path);
	strcpy(last, *name);
	*name = last;
	if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
		fail(EINVAL, "%s: not a file name", path);
	secure_join(parent, resolved, sizeof resolved);
	mkdir_all(resolved, 0755);
	pfd = in_root(resolved, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		FAIL("open parent of %s", path);
	return pfd;
}

/* Make sure a file exists at path (for file bind mounts). */
static void mkfile(const char *path)
{
	const char *name;
	int fd, pfd;

	fd = in_root(path, O_PATH);
	if (fd >= 0) {
		close(fd);
		return;
	}
	if (errno != ENOENT)
		FAIL("open %s", path);
	pfd = open_parent(path, &name);
	fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		FAIL("create mount point %s", path);
	close(fd);
	close(pfd);
}

/* ---------- mounts ---------- */

static int open_tree_(int dfd, const char *path, unsigned flags)
{
	return syscall(SYS_open_tree, dfd, path, flags);
}

static int move_mount_(int from, int to)
{
	return syscall(SYS_move_mount, from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int setattr(int fd, int recursive, uint64_t set, uint64_t clr, uint64_t prop)
{
	struct mount_attr_ a = {.attr_set = set, .attr_clr = clr, .propagation = prop};
	return syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a);
}

static void fdpath(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* Copy the tree under directory fd `from` into directory fd `to` (tmpcopyup): directories,
 * regular files, symlinks and special files, with their modes and owners.  Nothing is
 * followed: every name is opened with O_NOFOLLOW or handled as a link. */
static void copy_tree(int from, int to, const char *where)
{
	DIR *d = fdopendir(dup(from));
	struct dirent *de;

	if (!d)
		FAIL("tmpcopyup %s", where);
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		struct stat st;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (fstatat(from, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			FAIL("tmpcopyup %s/%s", where, n);
		if (S_ISDIR(st.st_mode)) {
			int s, t;
			if (mkdirat(to, n, st.st_mode & 07777) < 0 && errno != EEXIST)
				FAIL("tmpcopyup %s/%s", where, n);
			s = openat(from, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			t = openat(to, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s < 0 || t < 0)
				FAIL("tmpcopyup %s/%s", where, n);
			copy_tree(s, t, where);
			close(s);
			close(t);
		} else if (S_ISREG(st.st_mode)) {
			char buf[65536];
			ssize_t r;
			int s = openat(from, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int t = openat(to, n, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
			if (s < 0 || t < 0)
				FAIL("tmpcopyup %s/%s", where, n);
			while ((r = read(s, buf, sizeof buf)) > 0)
				if (write(t, buf, r) != r)
					FAIL("tmpcopyup %s/%s: write", where, n);
			if (r < 0)
				FAIL("tmpcopyup %s/%s: read", where, n);
			close(s);
			close(t);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t l = readlinkat(from, n, target, sizeof target - 1);
			if (l < 0)
				FAIL("tmpcopyup %s/%s", where, n);
			target[l] = '\0';
			if (symlinkat(target, to, n) < 0)
				FAIL("tmpcopyup %s/%s", where, n);
		} else if (mknodat(to, n, st.st_mode, st.st_rdev) < 0) {
			FAIL("tmpcopyup %s/%s", where, n);
		}
		if (fchownat(to, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM && errno != EINVAL)
			FAIL("tmpcopyup %s/%s: chown", where, n);
		if (!S_ISLNK(st.st_mode) && fchmodat(to, n, st.st_mode & 07777, 0) < 0)
			FAIL("tmpcopyup %s/%s: chmod", where, n);
	}
	closedir(d);
}

/* procfs and sysfs only on a directory that is not a symlink (nor anything else): a /proc
 * that the rootfs made a symlink would put the container's procfs, and the masks over it,
 * where the symlink leads (CVE-2019-19921 class).  Only the last component is checked, as
 * runc checks it: the ones before it resolve inside the root. */
static void check_ordinary_dir(const char *dst, const char *type)
{
	char parent[PATH_MAX];
	const char *name;
	struct stat st;
	int pfd;

	split(dst, parent, sizeof parent, &name);
	pfd = in_root(parent, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		return; /* no parent yet: nothing there to be a symlink */
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
		fail(0, "mount %s on %s: filesystem \"%s\" must be mounted on ordinary directory", type, dst, type);
	close(pfd);
}

static void op_mount(struct op *o)
{
	const char *src = o->argv[0], *dst = o->argv[2], *type = o->argv[3], *data = o->argv[5];
	int src_fd = snum(o->argv[1]);
	unsigned long flags = num(o->argv[4]);
	char mk = o->argv[6][0];
	unsigned long prop = num(o->argv[7]);
	uint64_t aset = num(o->argv[8]), aclr = num(o->argv[9]);
	uint64_t rset = num(o->argv[10]), rclr = num(o->argv[11]);
	unsigned opts = num(o->argv[12]);
	int dfd, mfd, under = -1;

	if (!(flags & MS_BIND) && (strcmp(type, "proc") == 0 || strcmp(type, "sysfs") == 0))
		check_ordinary_dir(dst, type);
	if (mk == 'd')
		mkdir_all(dst, 0755);
	else if (mk == 'f')
		mkfile(dst);
	dfd = in_root(dst, O_PATH);
	if (dfd < 0)
		FAIL("mount %s: open destination", dst);
	if (flags & MS_BIND) {
		if (src_fd >= 0) /* a tree pyrunc made (idmapped) and passed as this fd */
			mfd = src_fd;
		else
			mfd = open_tree_(AT_FDCWD, src,
					 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | ((flags & MS_REC) ? AT_RECURSIVE : 0));
		if (mfd < 0)
			FAIL("bind mount %s: open source %s", dst, src);
		if ((aset || aclr) && setattr(mfd, 0, aset, aclr, 0) < 0)
			FAIL("bind mount %s: set attributes", dst);
		if ((rset || rclr) && setattr(mfd, 1, rset, rclr, 0) < 0)
			FAIL("bind mount %s: set recursive attributes", dst);
		if (move_mount_(mfd, dfd) < 0)
			FAIL("bind mount %s on %s", src, dst);
	} else {
		char target[64];
		if (opts & OPT_MOUNT_COPYUP) {
			/* tmpcopyup: what the directory held before, copied into the new tmpfs; the
			 * descriptor opened now still reaches the covered directory afterwards */
			under = in_root(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			if (under < 0)
				FAIL("mount %s: tmpcopyup: open the directory", dst);
		}
		fdpath(target, sizeof target, dfd);
		if (mount(src, target, type, flags, *data ? data : NULL) < 0)
			FAIL("mount %s (%s) on %s", src, type, dst);
		mfd = in_root(dst, O_PATH);
		if (mfd < 0)
			FAIL("mount %s: reopen", dst);
		if (under >= 0) {
			int top = in_root(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			if (top < 0)
				FAIL("mount %s: tmpcopyup: open the tmpfs", dst);
			copy_tree(under, top, dst);
			close(top);
			close(under);
		}
		if ((rset || rclr) && setattr(mfd, 1, rset, rclr, 0) < 0)
			FAIL("mount %s: set recursive attributes", dst);
	}
	if (prop && setattr(mfd, (prop & MS_REC) != 0, 0, 0, prop & ~MS_REC) < 0)
		FAIL("mount %s: set propagation", dst);
	close(mfd);
	close(dfd);
}

static void check_devnull(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
		fail(0, "the host /dev/null is not the null device");
}

/* Stdio that is the null device (the host's /dev/null, given by the caller) becomes the
 * container's own /dev/null, as runc's init reopens it: a process's descriptors then name
 * a file of the container (CRIU can checkpoint it; /proc/1/fd/0 shows no host mount). */
static void op_devnull(void)
{
	struct stat st, null;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY), i;

	if (fd < 0) {
		if (errno == ENOENT)
			return;
		FAIL("open the container's /dev/null");
	}
	if (fstat(fd, &null) < 0)
		FAIL("stat the container's /dev/null");
	for (i = 0; i < 3 && S_ISCHR(null.st_mode) && null.st_rdev == makedev(1, 3); i++) {
		if (fstat(i, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != null.st_rdev)
			continue;
		if (st.st_dev == null.st_dev && st.st_ino == null.st_ino)
			continue; /* already the container's */
		if (dup3(fd, i, 0) < 0)
			FAIL("reopen /dev/null as fd %d", i);
	}
	close(fd);
}

static void op_mask(const char *path)
{
	struct stat st;
	int fd = in_root(path, O_PATH | O_NOFOLLOW), mfd;

	if (fd < 0) {
		if (errno == ENOENT)
			return;
		FAIL("mask %s", path);
	}
	if (fstat(fd, &st) < 0)
		FAIL("mask %s: stat", path);
	if (S_ISDIR(st.st_mode)) {
		char target[64];
		fdpath(target, sizeof target, fd);
		if (mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL) < 0)
			FAIL("mask %s", path);
	} else {
		/* The host's /dev/null, never the container's (CVE-2025-31133). */
		mfd = open_tree_(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (mfd < 0)
			FAIL("mask %s: open /dev/null", path);
		check_devnull(mfd);
		if (move_mount_(mfd, fd) < 0)
			FAIL("mask %s", path);
		close(mfd);
	}
	close(fd);
}

/* Is fd the root of a mount (then its attributes can be changed in place)? */
static int is_mount_root(int fd)
{
	struct statx a, b;
	int up = openat(fd, "..", O_PATH | O_CLOEXEC);
	int r;

	if (up < 0)
		return 0;
	r = syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) == 0 &&
		syscall(SYS_statx, up, "", AT_EMPTY_PATH, STATX_MNT_ID, &b) == 0 && a.stx_mnt_id != b.stx_mnt_id;
	close(up);
	return r;
}

static void op_readonly(const char *path, int recursive)
{
	int fd = in_root(path, O_PATH), mfd;

	if (fd < 0) {
		if (errno == ENOENT)
			return;
		FAIL("readonly %s", path);
	}
	if (is_mount_root(fd)) {
		if (setattr(fd, recursive, MOUNT_ATTR_RDONLY, 0, 0) < 0)
			FAIL("readonly %s", path);
		close(fd);
		return;
	}
	mfd = open_tree_(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0));
	if (mfd < 0)
		FAIL("readonly %s: clone", path);
	if (setattr(mfd, recursive, MOUNT_ATTR_RDONLY, 0, 0) < 0)
		FAIL("readonly %s: set read-only", path);
	if (move_mount_(mfd, fd) < 0)
		FAIL("readonly %s: mount", path);
	close(mfd);
	close(fd);
}

static void remove_nondir(int pfd, const char *name, const char *path)
{
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			fail(EISDIR, "device %s", path);
		if (unlinkat(pfd, name, 0) < 0)
			FAIL("device %s: remove existing", path);
	}
}

static void op_mknod(struct op *o)
{
	const char *path = o->argv[0], *name;
	char t = o->argv[1][0];
	mode_t mode = num(o->argv[4]) & 07777;
	dev_t dev = makedev(num(o->argv[2]), num(o->argv[3]));
	int pfd = open_parent(path, &name);

	mode |= (t == 'b') ? S_IFBLK : (t == 'p') ? S_IFIFO : S_IFCHR;
	remove_nondir(pfd, name, path);
	if (mknodat(pfd, name, mode, dev) < 0)
		FAIL("mknod %s", path);
	if (fchownat(pfd, name, id_num(o->argv[5]), id_num(o->argv[6]), AT_SYMLINK_NOFOLLOW) < 0)
		FAIL("chown %s", path);
	close(pfd);
}

static void op_binddev(struct op *o)
{
	const char *path = o->argv[0], *name;
	int pfd = open_parent(path, &name), fd, mfd;

	remove_nondir(pfd, name, path);
	fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		FAIL("device %s: create mount point", path);
	close(fd);
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	mfd = open_tree_(AT_FDCWD, o->argv[1], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0 || mfd < 0)
		FAIL("device %s: bind %s", path, o->argv[1]);
	if (move_mount_(mfd, fd) < 0)
		FAIL("device %s: bind %s", path, o->argv[1]);
	close(mfd);
	close(fd);
	close(pfd);
}

static void op_symlink(const char *target, const char *path, int replace)
{
	const char *name;
	int pfd = open_parent(path, &name);

	if (replace)
		remove_nondir(pfd, name, path);
	if (symlinkat(target, pfd, name) < 0 && errno != EEXIST)
		FAIL("symlink %s", path);
	close(pfd);
}

/* ---------- console ---------- */

static void send_fd(int sock, int fd)
{
	char name[] = "/dev/ptmx";
	struct iovec iov = {.iov_base = name, .iov_len = sizeof name - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(u.buf, 0, sizeof u.buf);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) < 0)
		FAIL("console: send the terminal");
}

static void op_console(struct op *o)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct winsize ws;
	struct stat st;
	const char *name;
	int sock, master, slave, unlock = 0, pfd, fd, mfd;
	long long sock_fd = snum(o->argv[1]);
	unsigned opts = num(o->argv[4]);

	ws.ws_row = num(o->argv[2]);
	ws.ws_col = num(o->argv[3]);
	if (sock_fd >= 0) {
		/* pyrunc connected it on the host side, before we joined the mount namespace */
		sock = sock_fd;
	} else {
		sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (sock < 0)
			FAIL("console: socket");
		if (strlen(o->argv[0]) >= sizeof sa.sun_path)
			fail(ENAMETOOLONG, "console socket %s", o->argv[0]);
		strcpy(sa.sun_path, o->argv[0]);
		if (connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0)
			FAIL("console: connect to %s", o->argv[0]);
	}
	master = in_root("/dev/pts/ptmx", O_RDWR | O_NOCTTY);
	if (master < 0)
		FAIL("console: open /dev/pts/ptmx");
	if (fstat(master, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
		fail(0, "console: /dev/pts/ptmx is not a pty multiplexer");
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		FAIL("console: unlock");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		FAIL("console: open the terminal");
	if ((ws.ws_row || ws.ws_col) && ioctl(slave, TIOCSWINSZ, &ws) < 0)
		FAIL("console: set size");
	if (opts & OPT_CONSOLE_EXEC)
		goto send; /* exec: a new pty, /dev/console stays the init's */
	/* /dev/console: a plain file we create, never followed through a symlink (CVE-2025-52565) */
	pfd = open_parent("/dev/console", &name);
	remove_nondir(pfd, name, "/dev/console");
	fd = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		FAIL("console: create /dev/console");
	close(fd);
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	mfd = open_tree_(slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (fd < 0 || mfd < 0 || move_mount_(mfd, fd) < 0)
		FAIL("console: bind /dev/console");
	close(mfd);
	close(fd);
	close(pfd);
send:
	send_fd(sock, master);
	close(master);
	close(sock);
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			FAIL("console: dup");
	close(slave);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		FAIL("console: set controlling terminal");
}

/* ---------- process ---------- */

/* Join the container's cgroups.  In a v1 hierarchy this single-threaded process moves
 * itself by writing "0" to the `tasks` file: the kernel then migrates just the current
 * thread and skips the global cgroup_threadgroup_rwsem, whose write side waits for an RCU
 * grace period (5 to 15 ms here, once per create, when pyrunc wrote our pid into
 * cgroup.procs).  A v2 directory is opened for the CLONE, which starts the child in it
 * (CLONE_INTO_CGROUP); this process itself never joins it. */
static void op_cgroup_join(struct op *o)
{
	unsigned version = num(o->argv[0]);
	const char *dir = o->argv[1];

	if (version == 2) {
		if (cgroup2_fd >= 0)
			close(cgroup2_fd);
		cgroup2_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (cgroup2_fd < 0)
			FAIL("open the cgroup %s", dir);
	} else if (version == 1) {
		char path[PATH_MAX];
		int fd;
		if (snprintf(path, sizeof(path), "%s/tasks", dir) >= (int)sizeof(path))
			fail(ENAMETOOLONG, "join the cgroup %s", dir);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			FAIL("join the cgroup %s", dir);
		close(fd);
	} else {
		fail(0, "cgroup: bad version %u", version);
	}
}

struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* fork with namespace flags; into cgroup2_fd when a CGROUP_JOIN gave one */
static pid_t clone_child(unsigned long flags)
{
	if (cgroup2_fd >= 0) {
		struct clone_args_v0 ca = {0};
		pid_t pid;
		ca.flags = flags | CLONE_INTO_CGROUP;
		ca.exit_signal = SIGCHLD;
		ca.cgroup = (uint64_t)cgroup2_fd;
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid >= 0 || (errno != ENOSYS && errno != E2BIG))
			return pid;
		/* a kernel without clone3 or CLONE_INTO_CGROUP: join it the slow way */
		int fd = openat(cgroup2_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			FAIL("join the cgroup v2 directory");
		close(fd);
	}
	return syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

static void op_proc_write(const char *path, const char *value)
{
	int fd;
	size_t len = strlen(value);

	/* No symlinks, no other mount: the file really is in the host procfs. */
	fd = openat2_(procfd, path, O_WRONLY | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		FAIL("open /proc/%s", path);
	if (write(fd, value, len) != (ssize_t)len)
		FAIL("write /proc/%s", path);
	close(fd);
}

static int capset_(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32),
		 .permitted = (uint32_t)(perm >> 32),
		 .inheritable = (uint32_t)(inh >> 32)},
	};
	return syscall(SYS_capset, &h, d);
}

static int last_cap(void)
{
	char buf[16] = {0};
	int fd = openat(procfd, "sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
		return 40;
	close(fd);
	return atoi(buf);
}

static void op_caps(struct op *o)
{
	uint64_t bounding = num(o->argv[0]);
	int last = last_cap();

	cap_eff = num(o->argv[1]);
	cap_perm = num(o->argv[2]);
	cap_inh = num(o->argv[3]);
	cap_amb = num(o->argv[4]);
	have_caps = 1;
	for (int c = 0; c <= last && c < 64; c++) {
		if (bounding & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			FAIL("drop capability %d from the bounding set", c);
	}
}

static int caps_deferred;

/* The process's capability sets and ambient set, as the plan's CAPS op gave them. */
static void apply_caps(void)
{
	if (capset_(cap_eff, cap_perm, cap_inh) < 0)
		FAIL("set capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		FAIL("clear ambient capabilities");
	for (int c = 0; c < 64; c++) {
		if (!(cap_amb & (1ULL << c)))
			continue;
		/* As runc: a capability that cannot be ambient (not in the inheritable and
		 * permitted sets) is left out rather than failing the container. */
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EPERM && errno != EINVAL)
			FAIL("raise ambient capability %d", c);
	}
}

/* USER uid gid groups [defer]: with "defer" (a seccomp filter follows and no_new_privs is
 * off, so loading it needs CAP_SYS_ADMIN) the capabilities kept through the uid change
 * stay effective until SECCOMP has loaded the filter, which then applies the real sets. */
static void op_user(struct op *o)
{
	uid_t uid = id_num(o->argv[0]);
	gid_t gid = id_num(o->argv[1]);
	const char *groups = o->argv[2];
	unsigned opts = num(o->argv[3]);
	int defer = opts & OPT_USER_DEFER;

	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		FAIL("keep capabilities");
	/* stdio (pipes from the caller, or the terminal) become the process's own, as runc does:
	 * a non-root program can then reopen /dev/stdout; /dev/null is left alone, and an inode
	 * we may not change (EPERM in a user namespace, a read-only /dev) is skipped */
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0 || st.st_uid == uid || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)))
			continue;
		if (fchown(fd, uid, -1) < 0 && errno != EPERM && errno != EROFS && errno != EINVAL)
			FAIL("chown stdio fd %d to %u", fd, uid);
	}
	if (!(opts & OPT_USER_KEEP_GROUPS)) {
		gid_t list[NGROUPS_MAX > 65536 ? 65536 : NGROUPS_MAX];
		size_t n = 0;
		char *copy = strdup(groups), *save = NULL;
		if (!copy)
			FAIL("setgroups");
		for (char *t = strtok_r(copy, ",", &save); t && n < sizeof list / sizeof list[0];
		     t = strtok_r(NULL, ",", &save))
			list[n++] = id_num(t);
		if (setgroups(n, list) < 0)
			FAIL("setgroups");
		free(copy);
	}
	if (setresgid(gid, gid, gid) < 0)
		FAIL("setgid %u", gid);
	if (setresuid(uid, uid, uid) < 0)
		FAIL("setuid %u", uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		FAIL("clear keep capabilities");
	if (defer) {
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) < 0)
			FAIL("get capabilities");
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
		if (syscall(SYS_capset, &h, d) < 0)
			FAIL("keep capabilities until seccomp");
		caps_deferred = have_caps;
		return;
	}
	if (have_caps)
		apply_caps();
}

/* HOME: the home directory of uid in the container's /etc/passwd, or "/" (as runc) for a
 * process whose environment has none; op_exec adds it. */
static char home_env[PATH_MAX + 8];

static void op_home(unsigned uid)
{
	char buf[65536], *line, *save = NULL;
	ssize_t n = 0;
	int fd = in_root("/etc/passwd", O_RDONLY);

	snprintf(home_env, sizeof home_env, "HOME=/");
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[7] = {0}, *p = line;
		int i;
		for (i = 0; i < 7 && p; i++) {
			f[i] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (i < 6 || !f[2][0])
			continue;
		char *end;
		unsigned long v = strtoul(f[2], &end, 10);
		if (*end || v != uid)
			continue;
		if (f[5][0])
			snprintf(home_env, sizeof home_env, "HOME=%s", f[5]);
		return;
	}
}

static int is_exec(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static void op_lookup(const char *prog, const char *path)
{
	if (strchr(prog, '/')) {
		struct stat st;
		if (stat(prog, &st) < 0)
			fail_plain(errno, "exec: \"%s\": stat %s: %s", prog, prog, go_err(errno));
		if (S_ISDIR(st.st_mode))
			fail_plain(EACCES, "exec: \"%s\": %s", prog, go_err(EACCES));
		if (access(prog, X_OK) < 0)
			fail_plain(errno, "exec: \"%s\": %s", prog, go_err(errno));
		snprintf(exec_path, sizeof exec_path, "%s", prog);
		return;
	}
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		char cand[PATH_MAX];
		if (end == p)
			snprintf(cand, sizeof cand, "./%s", prog);
		else
			snprintf(cand, sizeof cand, "%.*s/%s", (int)(end - p), p, prog);
		if (is_exec(cand)) {
			snprintf(exec_path, sizeof exec_path, "%s", cand);
			return;
		}
		if (!*end)
			break;
		p = end;
	}
	fail(0, "exec: \"%s\": executable file not found in $PATH", prog);
}

static void op_wait_start(void)
{
	char name[16];
	int fd;

	snprintf(name, sizeof name, "%d", fifo_fd);
	do
		fd = openat(selffd_dir, name, O_WRONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		FAIL("open the exec fifo");
	/* The open succeeded: a `start` opened the other end, the container is started.  If
	 * that start has been killed since, the write finds no reader: that is no reason to stop
	 * (EPIPE, not SIGPIPE), the container goes on, and its status says running. */
	signal(SIGPIPE, SIG_IGN);
	if (write(fd, "0", 1) != 1 && errno != EPIPE)
		FAIL("write the exec fifo");
	signal(SIGPIPE, SIG_DFL); /* not passed on to the container's program */
	/* Kept open (close-on-exec) until execve: `start` reads until end of file, so it sees
	 * a failure of what runs between here and execve (startContainer hooks, execve). */
	start_fd = fd;
	close(fifo_fd);
	close(selffd_dir);
}

/* Resource limits are applied as late as they can be: a limit the container's program is
 * meant to live under (a 1-byte stack or address space) must not break the executor's own
 * work, or the failure could not even be reported.  RLIMIT_NPROC is set at once, before
 * USER, so that setuid to a user over the limit makes execve fail (EAGAIN) as under runc;
 * the others wait for apply_rlimits(), right before the seccomp filter is loaded (the filter
 * may not allow setrlimit) or before execve, with nothing allocated after them. */
static struct {
	int resource;
	struct rlimit rl;
} pending_rlimits[RLIM_NLIMITS];
static int npending_rlimits;

static void op_rlimit(struct op *o)
{
	int resource = num(o->argv[0]);
	struct rlimit rl = {.rlim_cur = num(o->argv[1]), .rlim_max = num(o->argv[2])};

	if (resource == RLIMIT_NPROC) {
		if (setrlimit(resource, &rl) < 0)
			FAIL("setrlimit %s", o->argv[0]);
		return;
	}
	if (npending_rlimits >= RLIM_NLIMITS)
		fail(0, "too many rlimits");
	pending_rlimits[npending_rlimits].resource = resource;
	pending_rlimits[npending_rlimits].rl = rl;
	npending_rlimits++;
}

/* process.scheduler: sched_setattr(2) of this process, which the program inherits */
static void op_sched(struct op *o)
{
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t runtime, deadline, period;
	} attr = {.size = 48,
		  .policy = num(o->argv[0]),
		  .flags = num(o->argv[1]),
		  .nice = (int32_t)inum(o->argv[2]),
		  .priority = num(o->argv[3]),
		  .runtime = num(o->argv[4]),
		  .deadline = num(o->argv[5]),
		  .period = num(o->argv[6])};
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		FAIL("sched_setattr policy %s", o->argv[0]);
}

/* a list of CPU or node numbers, "0,1,5" (pyrunc expands ranges), as a bit mask of
 * 1024 bits; returns the highest number + 1 (0: empty) */
static unsigned id_mask(const char *list, unsigned long *mask, unsigned nwords)
{
	unsigned top = 0;
	memset(mask, 0, nwords * sizeof(unsigned long));
	for (const char *p = list; *p;) {
		char *e;
		errno = 0;
		unsigned long v = strtoul(p, &e, 10);
		if (errno || e == p || v >= nwords * 8 * sizeof(unsigned long) || (*e && *e != ','))
			fail(0, "%s: bad list '%s'", cur_op, list);
		mask[v / (8 * sizeof(unsigned long))] |= 1UL << (v % (8 * sizeof(unsigned long)));
		if (v + 1 > top)
			top = v + 1;
		p = *e ? e + 1 : e;
	}
	return top;
}

/* process.execCPUAffinity: sched_setaffinity(2) of this process */
static void op_affinity(struct op *o)
{
	unsigned long mask[1024 / (8 * sizeof(unsigned long))];
	id_mask(o->argv[0], mask, sizeof(mask) / sizeof(mask[0]));
	if (syscall(SYS_sched_setaffinity, 0, sizeof(mask), mask) < 0)
		FAIL("sched_setaffinity %s", o->argv[0]);
}

/* linux.memoryPolicy: set_mempolicy(2) (mode with its flags, the nodes) */
static void op_mempolicy(struct op *o)
{
	unsigned long mask[1024 / (8 * sizeof(unsigned long))];
	unsigned top = id_mask(o->argv[1], mask, sizeof(mask) / sizeof(mask[0]));
	/* maxnode: the kernel reads maxnode - 1 bits */
	if (syscall(SYS_set_mempolicy, (int)num(o->argv[0]), top ? mask : NULL, top ? top + 1 : 0) < 0)
		FAIL("set_mempolicy mode %s nodes '%s'", o->argv[0], o->argv[1]);
}

static void apply_rlimits(void)
{
	for (int i = 0; i < npending_rlimits; i++)
		if (setrlimit(pending_rlimits[i].resource, &pending_rlimits[i].rl) < 0)
			fail(errno, "setrlimit %d (soft %llu, hard %llu)", pending_rlimits[i].resource,
			     (unsigned long long)pending_rlimits[i].rl.rlim_cur,
			     (unsigned long long)pending_rlimits[i].rl.rlim_max);
	npending_rlimits = 0;
}

static void op_seccomp(struct op *o)
{
	struct sock_fprog prog;
	size_t len = strlen(o->argv[0]) / 2; /* hex encoded */
	unsigned char *code = malloc(len + 1);
	unsigned long flags;
	int fd;

	if (!code || len % sizeof(struct sock_filter))
		fail(0, "seccomp: bad program");
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		if (sscanf(o->argv[0] + 2 * i, "%2x", &v) != 1)
			fail(0, "seccomp: bad program");
		code[i] = v;
	}
	prog.len = len / sizeof(struct sock_filter);
	prog.filter = (struct sock_filter *)code;
	flags = num(o->argv[1]);
	apply_rlimits(); /* nothing allocates from here to execve */
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0)
		FAIL("seccomp: load the filter");
	free(code);
	if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
		/* pyrunc takes a copy (pidfd_getfd) for the agent at listenerPath, then says go on */
		char c;
		send_line("SECCOMP %d\n", fd);
		read_full(plan_fd, &c, 1);
		close(fd);
	}
	/* from here on every syscall is filtered: only capset, prctl, fcntl and execve follow */
	if (caps_deferred)
		apply_caps();
}

static void __attribute__((noreturn)) op_exec(struct op *o)
{
	int keep = num(o->argv[0]), argc = num(o->argv[1]);
	char **argv = &o->argv[2], **envp = &o->argv[2 + argc + 1];

	if (home_env[0]) { /* HOME from /etc/passwd, where the process has none (op HOME) */
		int has = 0;
		for (char **e = envp; *e; e++)
			has |= strncmp(*e, "HOME=", 5) == 0;
		if (!has)
			o->argv[o->argc] = home_env; /* the spare slot the plan reader left */
	}
	apply_rlimits();
	/* argv is NULL-terminated by the empty marker Python puts between argv and env */
	argv[argc] = NULL;
	/* Everything above the kept fds is close-on-exec (main marked what was inherited, the
	 * rest was opened O_CLOEXEC); the sync pipe and the exec fifo close at execve, which
	 * tells pyrunc that the exec happened.  Mark again in case a kept fd was dup'ed. */
	syscall(SYS_close_range, 3 + keep, ~0U, CLOSE_RANGE_CLOEXEC);
	for (int fd = 3; fd < 3 + keep; fd++)
		fcntl(fd, F_SETFD, 0);
	execve(exec_path[0] ? exec_path : argv[0], argv, envp);
	fail_plain(errno, "exec %s: %s", exec_path[0] ? exec_path : argv[0], go_err(errno));
}

/* ---------- hooks run by the init (createContainer, startContainer) ---------- */

static int memfd_holding(const char *name, const char *data, size_t len)
{
	int fd = syscall(SYS_memfd_create, name, 1 /* MFD_CLOEXEC */);

	if (fd < 0)
		FAIL("hook: memfd");
	while (len > 0) {
		ssize_t w = write(fd, data, len);
		if (w < 0)
			FAIL("hook: write its input");
		data += w;
		len -= w;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void read_output(int fd, char *buf, size_t cap)
{
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, cap - 1);
	if (n < 0)
		n = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
}

/* HOOKS: pyrunc runs its own hooks, then sends two states (u32 length + JSON each): the one
 * createContainer hooks get ("creating") and the one startContainer hooks get ("created") */
static void op_sync_hooks(void)
{
	uint32_t len;

	send_line("HOOKS\n");
	for (int i = 0; i < 2; i++) {
		read_full(plan_fd, &len, sizeof len);
		if (len > (16u << 20))
			fail(0, "hook state too large");
		hook_state[i] = malloc(len + 1);
		if (!hook_state[i])
			FAIL("malloc");
		read_full(plan_fd, hook_state[i], len);
		hook_state_len[i] = len;
	}
}

/* Run one hook: the state on stdin, stdout and stderr kept for the error message, killed
 * after its timeout.  The hook sees only stdio: preserved fds are closed for it. */
static void op_hook(struct op *o)
{
	const char *label = o->argv[0], *path = o->argv[2], *cwd = o->argv[3];
	unsigned which = num(o->argv[1]) ? 1 : 0, timeout = num(o->argv[4]);
	int argc = num(o->argv[5]), in, out, err, pidfd, status;
	char **args = &o->argv[6], **envp = &o->argv[6 + argc + 1];
	char obuf[1024], ebuf[1024], why[64];
	struct pollfd pfd;
	pid_t pid;

	if (!hook_state[which])
		fail(0, "%s: no state to give it", label);
	args[argc] = NULL;
	in = memfd_holding("hook-stdin", hook_state[which], hook_state_len[which]);
	out = memfd_holding("hook-stdout", "", 0);
	err = memfd_holding("hook-stderr", "", 0);
	pid = fork();
	if (pid < 0)
		FAIL("%s: fork", label);
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		setpgid(0, 0); /* a group of its own: a timeout kills what it started too */
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0U, 0);
		umask(022);
		if (cwd[0] && chdir(cwd) < 0) {
			dprintf(2, "chdir %s: %s", cwd, strerror(errno));
			_exit(127);
		}
		execve(path, args, envp);
		dprintf(2, "exec %s: %s", path, strerror(errno));
		_exit(127);
	}
	/* startContainer hooks run under the container's seccomp filter (as under runc), which
	 * may not allow pidfd_open: then the wait polls */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	pfd.fd = pidfd;
	pfd.events = POLLIN;
	for (long waited_ms = 0;;) {
		int r;
		if (pidfd >= 0) {
			r = poll(&pfd, 1, timeout ? (int)timeout * 1000 : -1);
			if (r < 0 && errno == EINTR)
				continue;
		} else {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				goto reaped;
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
			waited_ms += 10;
			r = (timeout && waited_ms >= (long)timeout * 1000) ? 0 : -1;
			if (r < 0)
				continue;
		}
		if (r == 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail(0, "%s: hook ran past specified timeout of %u.0s", label, timeout);
		}
		break;
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			FAIL("%s: wait", label);
reaped:
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		close(in);
		close(out);
		close(err);
		return;
	}
	if (WIFEXITED(status))
		snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof why, "signal: %s", strsignal(WTERMSIG(status)));
	read_output(out, obuf, sizeof obuf);
	read_output(err, ebuf, sizeof ebuf);
	fail(0, "%s: %s, stdout: %s, stderr: %s", label, why, obuf, ebuf);
}

/* chdir to the process's cwd without leaving the container: resolved inside the root with
 * no magic links (a /proc/self/fd/N naming a descriptor of ours is refused, the class of
 * CVE-2024-21626), and the result checked to be reachable from the root. */
static void op_cwd(const char *path)
{
	char buf[PATH_MAX];
	int fd;

	if (rootfd < 0)
		rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	fd = openat2_(rootfd, rel(path), O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		FAIL("chdir to cwd (\"%s\") set in config.json", path);
	if (fchdir(fd) < 0)
		FAIL("chdir to cwd (\"%s\") set in config.json", path);
	close(fd);
	if (syscall(SYS_getcwd, buf, sizeof buf) < 0 || buf[0] != '/')
		fail(0, "cwd (\"%s\") set in config.json is outside the container", path);
}

/* --no-pivot: after MS_MOVE and chroot the host's own procfs and sysfs are still mounted in
 * the container's mount namespace, under the chroot.  The kernel lets a process mount a new
 * procfs or sysfs (in a user namespace it made) only where a *full* one is already visible
 * in its mount namespace; with those host mounts there, a container could mount a fresh
 * procfs without the masks of linux.maskedPaths.  So, before the move, every full procfs and
 * sysfs mount outside the rootfs is detached (made a slave first, so nothing propagates to
 * the host), or covered with a tmpfs where it cannot be detached: as runc does.  The
 * executor's own descriptor of the host procfs stays usable. */
static void hide_full_pseudo_mounts(void)
{
	char self[32], root[PATH_MAX], *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	snprintf(self, sizeof self, "self/fd/%d", rootfd);
	n = readlinkat(procfd, self, root, sizeof root - 1);
	if (n <= 0)
		FAIL("no-pivot: the rootfs path");
	root[n] = '\0';
	fd = openat(procfd, "self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		FAIL("no-pivot: read mountinfo");
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			if (!buf)
				FAIL("no-pivot: read mountinfo");
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0)
			FAIL("no-pivot: read mountinfo");
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	for (char *line = buf, *next; *line; line = next) {
		char *f[5], *sep, *fstype, *p;
		next = strchrnul(line, '\n');
		if (*next)
			*next++ = '\0';
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		fstype = sep + 3;
		*strchrnul(fstype, ' ') = '\0';
		if (strcmp(fstype, "proc") != 0 && strcmp(fstype, "sysfs") != 0)
			continue;
		p = line;
		for (int i = 0; i < 5; i++) {
			f[i] = p;
			p = strchrnul(p, ' ');
			if (*p)
				*p++ = '\0';
		}
		if (strcmp(f[3], "/") != 0)
			continue; /* not the root of the filesystem: not a full mount */
		/* the mount point, its octal escapes (\040 for a space ...) decoded */
		char *w = f[4];
		for (char *r = f[4]; *r; r++) {
			if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
			    r[3] <= '7') {
				*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
				r += 3;
			} else {
				*w++ = *r;
			}
		}
		*w = '\0';
		size_t rl = strlen(root);
		if (strncmp(f[4], root, rl) == 0 && (f[4][rl] == '\0' || f[4][rl] == '/' || rl == 1))
			continue; /* the container's own */
		if (mount(NULL, f[4], NULL, MS_SLAVE | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue; /* under one detached already */
			FAIL("no-pivot: make %s a slave", f[4]);
		}
		if (umount2(f[4], MNT_DETACH) < 0) {
			if (errno != EINVAL && errno != EPERM)
				FAIL("no-pivot: detach %s", f[4]);
			if (mount("tmpfs", f[4], "tmpfs", 0, NULL) < 0)
				FAIL("no-pivot: cover %s", f[4]);
		}
	}
	free(buf);
}

/* ---------- main ---------- */

static void run_op(struct op *o)
{
	switch (o->code) {
	case OP_SETNS: {
		int fd;
		fd = open(o->argv[0], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			FAIL("open namespace %s", o->argv[0]);
		if (setns(fd, num(o->argv[1])) < 0)
			FAIL("join namespace %s", o->argv[0]);
		close(fd);
		break;
	}
	case OP_TIMENS:
		if (unshare(CLONE_NEWTIME) < 0)
			FAIL("new time namespace");
		op_proc_write("self/timens_offsets", o->argv[0]);
		break;
	case OP_CGROUP_JOIN: op_cgroup_join(o); break;
	case OP_CLONE: {
		pid_t pid;
		/* rootless: the unprivileged pyrunc writes the child's id maps, which needs the
		 * child's /proc files to be its own (dumpable) until WAIT_GO */
		if (num(o->argv[1]) & OPT_CLONE_DUMPABLE)
			prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		pid = clone_child((unsigned long)num(o->argv[0]));
		if (pid < 0)
			FAIL("clone");
		if (pid > 0) {
			send_line("PID %d\n", pid);
			_exit(0);
		}
		if (cgroup2_fd >= 0) {
			close(cgroup2_fd);
			cgroup2_fd = -1;
		}
		break;
	}
	case OP_HOLD: {
		/* the systemd driver: pyrunc has systemd move this process into the container's unit */
		char c;
		read_full(plan_fd, &c, 1);
		if (c != 'G')
			fail(0, "pyrunc did not let the executor go on");
		break;
	}
	case OP_WAIT_GO: {
		char c;
		read_full(plan_fd, &c, 1);
		if (c != 'G')
			fail(0, "pyrunc did not let the init go on");
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (num(o->argv[0]) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
			FAIL("become root in the user namespace");
		break;
	}
	case OP_SETSID:
		if (setsid() < 0)
			FAIL("setsid");
		break;
	case OP_PROC_WRITE: op_proc_write(o->argv[0], o->argv[1]); break;
	case OP_PROPAGATION:
		if (mount(NULL, o->argv[0], NULL, num(o->argv[1]), NULL) < 0)
			FAIL("set propagation of %s", o->argv[0]);
		break;
	case OP_ROOTFS:
		/* "shared": no mount namespace of the container's own, so no bind of the rootfs
		 * onto itself (it would stay in the runtime's namespace) */
		if (!(num(o->argv[1]) & OPT_ROOTFS_SHARED) &&
		    mount(o->argv[0], o->argv[0], NULL, MS_BIND | MS_REC, NULL) < 0)
			FAIL("bind the rootfs %s", o->argv[0]);
		rootfd = open(o->argv[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			FAIL("open the rootfs %s", o->argv[0]);
		break;
	case OP_MKDIR: mkdir_all(o->argv[0], num(o->argv[1])); break;
	case OP_MOUNT: op_mount(o); break;
	case OP_MKNOD: op_mknod(o); break;
	case OP_BINDDEV: op_binddev(o); break;
	case OP_SYMLINK: op_symlink(o->argv[0], o->argv[1], num(o->argv[2]) & OPT_SYMLINK_REPLACE); break;
	case OP_MASK: op_mask(o->argv[0]); break;
	case OP_READONLY: op_readonly(o->argv[0], num(o->argv[1]) & OPT_READONLY_RECURSIVE); break;
	case OP_CONSOLE: op_console(o); break;
	case OP_EXECFIFO:
		fifo_fd = num(o->argv[0]);
		if (fcntl(fifo_fd, F_SETFD, FD_CLOEXEC) < 0)
			FAIL("exec fifo fd %d", fifo_fd);
		selffd_dir = openat(procfd, "self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (selffd_dir < 0)
			FAIL("open /proc/self/fd");
		break;
	case OP_ROOT_READONLY:
		if (setattr(rootfd, 0, MOUNT_ATTR_RDONLY, 0, 0) < 0)
			FAIL("make the root read-only");
		break;
	case OP_PIVOT: {
		int oldroot;
		unsigned mode = num(o->argv[0]);
		oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
		if (oldroot < 0)
			FAIL("open the old root");
		if (fchdir(rootfd) < 0)
			FAIL("chdir to the rootfs");
		if (mode == PIVOT_MODE_JAIL) {
			/* the runtime's mount namespace, shared: only chroot (as runc without NEWNS) */
			if (chroot(".") < 0)
				FAIL("chroot");
		} else if (mode == PIVOT_MODE_PIVOT) {
			if (syscall(SYS_pivot_root, ".", ".") < 0)
				FAIL("pivot_root");
			/* "." is not promised to be the old root after pivot_root: go there by fd,
			 * make it a slave so that the unmount does not reach the host, detach it. */
			if (fchdir(oldroot) < 0)
				FAIL("chdir to the old root");
			if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
				FAIL("make the old root a slave");
			if (umount2(".", MNT_DETACH) < 0)
				FAIL("unmount the old root");
		} else {
			hide_full_pseudo_mounts();
			if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
				FAIL("move the rootfs to /");
			if (chroot(".") < 0)
				FAIL("chroot");
		}
		close(oldroot);
		if (chdir("/") < 0)
			FAIL("chdir /");
		close(rootfd);
		rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	case OP_ROOT_PROPAGATION:
		if (mount(NULL, "/", NULL, num(o->argv[0]), NULL) < 0)
			FAIL("set rootfs propagation");
		break;
	case OP_HOSTNAME:
		if (sethostname(o->argv[0], strlen(o->argv[0])) < 0)
			FAIL("sethostname");
		break;
	case OP_DOMAINNAME:
		if (setdomainname(o->argv[0], strlen(o->argv[0])) < 0)
			FAIL("setdomainname");
		break;
	case OP_RLIMIT: op_rlimit(o); break;
	case OP_USER: op_user(o); break;
	case OP_CAPS: op_caps(o); break;
	case OP_UMASK: umask(num(o->argv[0])); break;
	case OP_IOPRIO: /* process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, self, class<<13 | level) */
		if (syscall(SYS_ioprio_set, 1, 0, (int)num(o->argv[0])) < 0)
			FAIL("ioprio_set %s", o->argv[0]);
		break;
	case OP_SCHED: op_sched(o); break;
	case OP_AFFINITY: op_affinity(o); break;
	case OP_MEMPOLICY: op_mempolicy(o); break;
	case OP_PERSONALITY: /* linux.personality */
		if (personality((unsigned long)num(o->argv[0])) < 0)
			FAIL("personality %s", o->argv[0]);
		break;
	case OP_DEVNULL: op_devnull(); break;
	case OP_NNP:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			FAIL("set no_new_privs");
		break;
	case OP_CWD: op_cwd(o->argv[0]); break;
	case OP_HOME: op_home(id_num(o->argv[0])); break;
	case OP_LOOKUP: op_lookup(o->argv[0], o->argv[1]); break;
	case OP_READY:
		send_line("READY\n");
		close(sync_fd);
		sync_fd = -1;
		break;
	case OP_WAIT_START: op_wait_start(); break;
	case OP_SECCOMP: op_seccomp(o); break;
	case OP_KEYRING:
		if (syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, o->argv[0]) < 0 && errno != ENOSYS)
			FAIL("join a new session keyring");
		break;
	case OP_SETNS_FD: {
		int fd;
		fd = num(o->argv[0]);
		if (setns(fd, num(o->argv[1])) < 0)
			FAIL("join the container's namespace (type %s)", o->argv[1]);
		close(fd);
		break;
	}
	case OP_ROOT_CURRENT:
		if (rootfd >= 0)
			close(rootfd);
		rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0)
			FAIL("open the container's root");
		break;
	case OP_SYNC_HOOKS: op_sync_hooks(); break;
	case OP_HOOK: op_hook(o); break;
	case OP_EXEC: op_exec(o);
	default: fail(0, "plan: op %u not handled", o->code);
	}
}

int main(int argc, char **argv)
{
	struct op *ops;
	struct statfs sfs;
	size_t n;
	int keep;

	if (argc != 4) {
		static const char usage[] = "pyrunc-init: started by pyrunc only\n";
		if (write(2, usage, sizeof usage - 1) < 0) {
		}
		return 2;
	}
	plan_fd = atoi(argv[1]);
	sync_fd = atoi(argv[2]);
	keep = atoi(argv[3]);
	/* Nothing of ours may outlive the exec: every fd above the preserved ones closes then. */
	syscall(SYS_close_range, 3 + keep, ~0U, CLOSE_RANGE_CLOEXEC);
	/* Our /proc/<pid> stays root-owned and unreadable to the container while we work. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* The name pyrunc and the front look for in /proc/<pid>/comm: a created container's init
	 * that has not exec'd yet (a `start` killed after it let the init go must not leave a
	 * container that says "created" while its program runs). */
	prctl(PR_SET_NAME, "pyrunc-init", 0, 0, 0);
	umask(0);
	procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0 || fstatfs(procfd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC)
		fail(0, "/proc is not a procfs");
	ops = read_plan(&n);
	for (size_t i = 0; i < n; i++) {
		cur_op = plan_op_info[ops[i].code].name;
		cur_index = (int)i;
		run_op(&ops[i]);
	}
	fail(0, "plan ended without exec");
}
