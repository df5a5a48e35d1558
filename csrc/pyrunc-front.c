/*
 * pyrunc-front: the `pyrunc` command.  It answers the calls that engines make most and
 * that need no planning -- `state`, `kill`, `start` and `delete` of an existing container --
 * by itself, and hands every other call, unchanged, to the Python runtime (the script
 * `pyrunc-py` beside it).  Starting a Python interpreter costs ~10 ms here, more than
 * everything these calls do (docs/performance.md).
 *
 * Python decides, the front executes.  At every state change Python writes the container's
 * record `<root>/<id>/front` (pyrunc/state.py documents the format): the init's pid and
 * start time, the freezer file and its values, the directories to kill in and remove, the
 * files to unlink, the state document but for pid and status (rendered by Python's own
 * encoder), and which commands must go to Python.  The front parses no JSON, knows no cgroup
 * layout, no hooks, no manager.
 *
 * The rule that keeps the two in agreement: this program only takes the plain, successful
 * path.  Whenever something is unusual -- an option it does not know, a non-root caller,
 * --debug, an id or a record it cannot read, a container that is not in the status the
 * call needs, a signal name it does not know, a command the record hands to Python -- it
 * execs Python *before* doing anything, and Python gives the answer or the error.  Two calls
 * can fail after acting: `start` (the init reports a failed execve through the exec fifo,
 * which can be read once) and `delete` (a cgroup that stays busy); they report the error
 * themselves, on stderr and in --log, formatted as pyrunc/log.py formats it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_ID 255
#define RECORD_MAX (1 << 20)
#define MAX_LIST 64

static char **orig_argv;
static const char *log_path;
static int log_json;

/* ---- the way out to Python ---- */

static int python_subreaper; /* create, run, exec: Python would make itself a subreaper */

/* Run the Python runtime's script.  Its first line names the interpreter: with flags when
 * `python -m pyrunc.launcher` wrote it (the kernel runs it as it is); without any when pip
 * installed it from the wheel (pip rewrites `#!python` to the bare interpreter), and then
 * the interpreter is started here with the flags the launcher would have written
 * (docs/performance.md).  Returns only if execv failed. */
static void exec_python(const char *py)
{
	char line[PATH_MAX + 64];
	int fd = open(py, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, line, sizeof(line) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 2 && line[0] == '#' && line[1] == '!') {
		line[n] = 0;
		char *end = strchr(line, '\n');
		if (end) {
			*end = 0;
			char *interp = line + 2;
			const char *base = strrchr(interp, '/');
			base = base ? base + 1 : interp;
			/* a bare python interpreter: no flags, no space (pip's /bin/sh wrapper for
			 * long paths, or flags already there: the kernel runs the script as it is) */
			if (!strpbrk(interp, " \t") && !strncmp(base, "python", 6)) {
				int argc = 0;
				while (orig_argv[argc])
					argc++;
				char **args = calloc(argc + 3, sizeof(char *));
				if (args) {
					args[0] = interp;
					args[1] = "-IOOS";
					args[2] = (char *)py;
					for (int i = 1; i < argc; i++)
						args[i + 2] = orig_argv[i];
					execv(interp, args);
					return;
				}
			}
		}
	}
	execv(py, orig_argv);
}

static void fallback(void)
{
	char self[PATH_MAX], py[PATH_MAX + 8];
	/* the flag survives execve: set here, it spares Python a cffi import (fdutil.py) */
	if (python_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0) {
		char pid[16]; /* our pid, which execve keeps: a value inherited from elsewhere never matches */
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("PYRUNC_SUBREAPER", pid, 1);
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fputs("pyrunc: cannot find its own path (/proc/self/exe)\n", stderr);
		exit(1);
	}
	self[n] = 0;
	snprintf(py, sizeof(py), "%s-py", self);
	exec_python(py);
	fprintf(stderr, "pyrunc: cannot run the Python runtime %s: %s\n", py, strerror(errno));
	exit(1);
}

/* ---- errors after acting: stderr, and --log as pyrunc/log.py writes it ---- */

/* one UTF-8 sequence at s: its code point and length; U+FFFD and 1 for a bad byte (as
 * Python's decode with errors="replace" gives one U+FFFD per bad byte) */
static unsigned utf8(const unsigned char *s, int *len)
{
	unsigned c = s[0], cp, min;
	int n;
	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if ((c & 0xe0) == 0xc0)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		goto bad;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		goto bad;
	*len = n;
	return cp;
bad:
	*len = 1;
	return 0xfffd;
}

/* a JSON string as Python's json (ensure_ascii) writes it: \uXXXX beyond ASCII, surrogate
 * pairs beyond the BMP, the short escapes for the usual control characters */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n;
		unsigned c = utf8(p, &n);
		p += n;
		switch (c) {
		case '"': fputs("\\\"", f); continue;
		case '\\': fputs("\\\\", f); continue;
		case '\n': fputs("\\n", f); continue;
		case '\r': fputs("\\r", f); continue;
		case '\t': fputs("\\t", f); continue;
		case '\b': fputs("\\b", f); continue;
		case '\f': fputs("\\f", f); continue;
		}
		if (c < 0x20 || (c >= 0x7f && c < 0x10000))
			fprintf(f, "\\u%04x", c);
		else if (c >= 0x10000)
			fprintf(f, "\\u%04x\\u%04x", 0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 0x3ff));
		else
			fputc((int)c, f);
	}
	fputc('"', f);
}

/* the message on one line, as log.py joins its lines: Python's str.splitlines, then
 * " ".join -- each line break (\r\n counts as one) becomes a space, but a break at the
 * very end ends the last line and leaves nothing */
static void one_line(char *msg)
{
	char *w = msg;
	int last_was_break = 0;
	for (char *r = msg; *r; r++) {
		if (*r == '\r' && r[1] == '\n')
			continue;
		last_was_break = strchr("\n\r\v\f\x1c\x1d\x1e", *r) != NULL;
		*w++ = last_was_break ? ' ' : *r;
	}
	if (last_was_break)
		w--;
	*w = 0;
}

/* invalid UTF-8 replaced by U+FFFD, one per bad byte, as Python decodes what the executor
 * wrote (errors="replace"): stderr and both log formats then carry the same text */
static void valid_utf8(char *msg, size_t size)
{
	char out[8192];
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)msg; *p && w + 4 < sizeof(out);) {
		int n;
		unsigned c = utf8(p, &n);
		if (c == 0xfffd && !(p[0] == 0xef && p[1] == 0xbf && p[2] == 0xbd)) {
			memcpy(out + w, "\xef\xbf\xbd", 3);
			w += 3;
		} else {
			memcpy(out + w, p, n);
			w += n;
		}
		p += n;
	}
	out[w] = 0;
	snprintf(msg, size, "%s", out);
}

static void report(const char *fmt, ...)
{
	char msg[8192], stamp[64];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	valid_utf8(msg, sizeof(msg));
	one_line(msg);
	fprintf(stderr, "pyrunc: %s\n", msg);
	if (!log_path)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f)
		return;
	if (log_json) {
		fputs("{\"level\":\"error\",\"msg\":", f);
		json_str(f, msg);
		fprintf(f, ",\"time\":\"%s.%06ldZ\"}\n", stamp, ts.tv_nsec / 1000);
	} else {
		fprintf(f, "time=\"%s.%06ldZ\" level=error msg=\"", stamp, ts.tv_nsec / 1000);
		for (const char *p = msg; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', f);
			fputc(*p, f);
		}
		fputs("\"\n", f);
	}
	fclose(f);
}

/* ---- the record ---- */

struct ctr {
	const char *root, *id;
	char dir[PATH_MAX];
	char *text;
	long long pid, starttime;
	char *python;			     /* commands for Python, comma separated */
	char *freezer, *thaw_value, *frozen; /* "-" when there is none */
	char *piddir;
	char *leaf[MAX_LIST], *rmdirs[MAX_LIST], *unlinks[MAX_LIST];
	int nleaf, nrmdir, nunlink;
	const char *head, *middle, *tail;
	size_t nhead, nmiddle, ntail;
	int lockfd;
};

static int valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > MAX_ID || !strcmp(id, ".") || !strcmp(id, ".."))
		return 0;
	for (const char *p = id; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.", *p))
			return 0;
	return 1;
}

static long long number(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return (errno || *end || end == s || v < 0) ? -1 : v;
}

/* is cmd (or "all") in the record's python list? */
static int for_python(struct ctr *c, const char *cmd)
{
	size_t n = strlen(cmd);
	for (const char *p = c->python; *p;) {
		const char *e = strchrnul(p, ',');
		if (((size_t)(e - p) == n && !strncmp(p, cmd, n)) || (e - p == 3 && !strncmp(p, "all", 3)))
			return 1;
		p = *e ? e + 1 : e;
	}
	return 0;
}

static void load(struct ctr *c, int lock, const char *cmd)
{
	char path[PATH_MAX + 16];
	struct stat st;
	if (!valid_id(c->id) || snprintf(c->dir, sizeof(c->dir), "%s/%s", c->root, c->id) >= (int)sizeof(c->dir))
		fallback();
	c->lockfd = -1;
	if (lock) {
		c->lockfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->lockfd < 0 || flock(c->lockfd, LOCK_EX) < 0)
			fallback();
	}
	snprintf(path, sizeof(path), "%s/front", c->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > RECORD_MAX)
		fallback();
	c->text = malloc(st.st_size + 1);
	if (!c->text || read(fd, c->text, st.st_size) != st.st_size)
		fallback();
	close(fd);
	c->text[st.st_size] = 0;
	char *end = c->text + st.st_size, *p = c->text;
	int version = 0;
	c->pid = c->starttime = -1;
	c->python = c->freezer = c->thaw_value = c->frozen = c->piddir = NULL;
	c->head = NULL;
	while (p < end && !c->head) {
		char *nl = memchr(p, '\n', end - p);
		if (!nl)
			fallback();
		*nl = 0;
		char *val = strchr(p, ' ');
		if (!val)
			fallback();
		*val++ = 0;
		if (!strcmp(p, "pyrunc-front"))
			version = (int)number(val);
		else if (!strcmp(p, "pid"))
			c->pid = number(val);
		else if (!strcmp(p, "starttime"))
			c->starttime = number(val);
		else if (!strcmp(p, "python"))
			c->python = val;
		else if (!strcmp(p, "freezer"))
			c->freezer = val;
		else if (!strcmp(p, "thaw"))
			c->thaw_value = val;
		else if (!strcmp(p, "frozen"))
			c->frozen = val;
		else if (!strcmp(p, "piddir"))
			c->piddir = val;
		else if (!strcmp(p, "leaf") && c->nleaf < MAX_LIST)
			c->leaf[c->nleaf++] = val;
		else if (!strcmp(p, "rmdir") && c->nrmdir < MAX_LIST)
			c->rmdirs[c->nrmdir++] = val;
		else if (!strcmp(p, "unlink") && c->nunlink < MAX_LIST)
			c->unlinks[c->nunlink++] = val;
		else if (!strcmp(p, "state")) {
			char *a = val, *b = strchr(a, ' '), *d = b ? strchr(b + 1, ' ') : NULL;
			if (!b || !d)
				fallback();
			*b++ = 0;
			*d++ = 0;
			long long h = number(a), m = number(b), t = number(d);
			char *body = nl + 1;
			if (h < 0 || m < 0 || t < 0 || body + h + m + t != end)
				fallback();
			c->head = body, c->nhead = h;
			c->middle = body + h, c->nmiddle = m;
			c->tail = body + h + m, c->ntail = t;
			break;
		} else
			fallback(); /* a line this front does not know: a newer Python wrote it */
		p = nl + 1;
	}
	if (version != 1 || c->pid <= 0 || c->starttime < 0 || !c->python || !c->freezer || !c->thaw_value ||
	    !c->frozen || !c->piddir || !c->head)
		fallback();
	if (for_python(c, cmd))
		fallback();
}

/* alive: /proc/<pid>/stat has the saved start time and is not a zombie */
static int init_alive(struct ctr *c)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%lld/stat", c->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	char state = p[2];
	p += 2;
	for (int field = 3; field < 22; field++) { /* to field 22, starttime */
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	return strtoll(p, NULL, 10) == c->starttime && state != 'Z' && state != 'X';
}

/* the freezer's file, from "file PATH" or "- -"; NULL when there is none */
static const char *freezer_file(struct ctr *c)
{
	const char *sp = strchr(c->freezer, ' ');
	if (c->freezer[0] == '-' || !sp || !sp[1] || sp[1] == '-')
		return NULL;
	return sp + 1;
}

static int frozen(struct ctr *c)
{
	char buf[32] = {0};
	const char *file = freezer_file(c);
	if (!file || c->frozen[0] == '-')
		return 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] == c->frozen[0];
}

static void thaw(struct ctr *c)
{
	const char *file = freezer_file(c);
	if (!file || c->thaw_value[0] == '-')
		return;
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, c->thaw_value, strlen(c->thaw_value)) < 0) {
			/* a cleanup step, as Python's thaw_quietly: errors are ignored */
		}
		close(fd);
	}
}

static const char *status(struct ctr *c)
{
	char path[PATH_MAX + 16];
	if (!init_alive(c))
		return "stopped";
	if (frozen(c))
		return "paused";
	snprintf(path, sizeof(path), "%s/exec.fifo", c->dir);
	if (access(path, F_OK) != 0)
		return "running";
	/* the fifo is there: created while the init has not exec'd (it is still pyrunc-init,
	 * as it names itself); a start killed after letting it go leaves a running container */
	char comm[32] = {0};
	snprintf(path, sizeof(path), "/proc/%lld/comm", c->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0 && strcmp(comm, "pyrunc-init\n") != 0)
		return "running";
	return "created";
}

/* a pidfd of the init, checked against its start time after it pins the pid */
static int init_pidfd(struct ctr *c)
{
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)c->pid, 0);
	if (fd < 0)
		return -1;
	if (!init_alive(c)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SIGKILL every process in dir's cgroup.procs */
static void kill_in(const char *dir)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	if (f) {
		long pid;
		while (fscanf(f, "%ld", &pid) == 1)
			if (pid > 0)
				kill((pid_t)pid, SIGKILL);
		fclose(f);
	}
}

/* every cgroup below dir, at any depth: pre(path) on the way down, post(path) on the way up */
static void walk_below(const char *dir, void (*pre)(const char *), int (*post)(const char *))
{
	char path[PATH_MAX + 16];
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (pre)
			pre(path);
		walk_below(path, pre, post);
		if (post)
			post(path);
	}
	closedir(d);
}

/* the processes of dir's cgroup and of every cgroup below it */
static void kill_all_in(const char *dir)
{
	kill_in(dir);
	walk_below(dir, kill_in, NULL);
}

/* remove the cgroups below dir, deepest first (the container made them inside its own) */
static void rmdir_below(const char *dir)
{
	walk_below(dir, NULL, rmdir);
}

/* ---- the commands ---- */

static int cmd_state(struct ctr *c)
{
	load(c, 0, "state");
	const char *st = status(c);
	fwrite(c->head, 1, c->nhead, stdout);
	printf("%lld", strcmp(st, "stopped") ? c->pid : 0LL);
	fwrite(c->middle, 1, c->nmiddle, stdout);
	fputs(st, stdout);
	fwrite(c->tail, 1, c->ntail, stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

static const struct {
	const char *name;
	int sig;
} SIGNALS[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},	  {"QUIT", SIGQUIT}, {"ILL", SIGILL},	  {"TRAP", SIGTRAP},
	{"ABRT", SIGABRT}, {"IOT", SIGIOT},	  {"BUS", SIGBUS},   {"FPE", SIGFPE},	  {"KILL", SIGKILL},
	{"USR1", SIGUSR1}, {"SEGV", SIGSEGV},	  {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},	  {"ALRM", SIGALRM},
	{"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},	  {"STOP", SIGSTOP},
	{"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},	  {"TTOU", SIGTTOU}, {"URG", SIGURG},	  {"XCPU", SIGXCPU},
	{"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
	{"POLL", SIGPOLL}, {"PWR", SIGPWR},	  {"SYS", SIGSYS},
};

/* the signal of a kill argument; 0 for anything Python should judge */
static int parse_signal(const char *t)
{
	char up[16];
	size_t i;
	if (!t)
		return SIGTERM;
	if (*t >= '0' && *t <= '9') {
		char *end;
		long n = strtol(t, &end, 10);
		return (*end || n <= 0 || n >= 65) ? 0 : (int)n;
	}
	for (i = 0; t[i] && i < sizeof(up) - 1; i++)
		up[i] = (t[i] >= 'a' && t[i] <= 'z') ? t[i] - 32 : t[i];
	if (t[i])
		return 0;
	up[i] = 0;
	const char *name = strncmp(up, "SIG", 3) == 0 ? up + 3 : up;
	for (i = 0; i < sizeof(SIGNALS) / sizeof(SIGNALS[0]); i++)
		if (strcmp(name, SIGNALS[i].name) == 0)
			return SIGNALS[i].sig;
	return 0;
}

static int cmd_kill(struct ctr *c, const char *sigtext)
{
	int sig = parse_signal(sigtext);
	if (!sig)
		fallback();
	load(c, 1, "kill");
	const char *st = status(c);
	if (strcmp(st, "created") && strcmp(st, "running") && strcmp(st, "paused"))
		fallback();
	int pidfd = init_pidfd(c);
	if (pidfd < 0)
		fallback();
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		fallback(); /* nothing happened: Python says why */
	close(pidfd);
	if (sig == SIGKILL && strcmp(st, "paused") == 0)
		thaw(c);
	return 0;
}

/* the failure the init wrote on the exec fifo after "0": "ERR <op> <errno> <len>\n<msg>"
 * (pyrunc/executor.py parse_failure) */
static void report_start_failure(struct ctr *c, char *buf, size_t len)
{
	int op, err;
	size_t mlen;
	int used = 0;
	if (len > 1 && sscanf(buf + 1, "ERR %d %d %zu\n%n", &op, &err, &mlen, &used) == 3 && used > 0 &&
	    1 + (size_t)used + mlen <= len) {
		char *msg = buf + 1 + used;
		msg[mlen] = 0;
		report("%s", msg);
		return;
	}
	report("container %s failed to start", c->id);
}

static int cmd_start(struct ctr *c)
{
	char fifo[PATH_MAX + 16], buf[16384];
	size_t len = 0;
	load(c, 1, "start");
	if (strcmp(status(c), "created") != 0)
		fallback();
	int pidfd = init_pidfd(c);
	if (pidfd < 0)
		fallback();
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", c->dir);
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fallback();
	/* from here on the init is told to go: errors are reported here (pyrunc/ops/start.py
	 * has the same protocol: "0", then end of file at execve, or a failure frame) */
	struct pollfd pf[2] = {{fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
	int eof = 0;
	while (!eof) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			report("poll: %s", strerror(errno));
			return 1;
		}
		if (pf[0].revents) {
			ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
			if (n > 0) {
				len += n;
				if (len < sizeof(buf) - 1)
					continue;
			}
			if (n == 0 || len >= sizeof(buf) - 1)
				eof = 1;
			else if (n < 0 && errno != EAGAIN)
				eof = 1;
		}
		if (pf[1].revents && !eof) {
			ssize_t n;
			while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
				len += n;
			if (len == 0) {
				report("container init exited before it could start: %s", c->id);
				return 1;
			}
			break;
		}
	}
	close(fd);
	close(pidfd);
	unlink(fifo);
	buf[len] = 0;
	if (len == 1 && buf[0] == '0')
		return 0;
	report_start_failure(c, buf, len);
	return 1;
}

/* delete [--force]: pyrunc/ops/delete.py destroy() for what the record allows */
static int cmd_delete(struct ctr *c, int force)
{
	load(c, 1, "delete");
	const char *st = status(c);
	if (strcmp(st, "stopped") && !force)
		fallback(); /* Python says it is not stopped */
	int pidfd = strcmp(st, "stopped") ? init_pidfd(c) : -1;
	if (pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		thaw(c);
		struct pollfd pf = {pidfd, POLLIN, 0};
		poll(&pf, 1, 10000);
		close(pidfd);
	}
	int has_piddir = strcmp(c->piddir, "-") != 0;
	if (has_piddir)
		kill_all_in(c->piddir);
	thaw(c);
	/* the removal list is in order, deepest first; the container's own directories (leaves)
	 * lose their sub-cgroups first and are retried, killing what is left, for up to 5 s */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char left[2048] = "";
	for (int i = 0; i < c->nrmdir; i++) {
		int leaf = 0;
		for (int j = 0; j < c->nleaf && !leaf; j++)
			leaf = !strcmp(c->rmdirs[i], c->leaf[j]);
		if (leaf)
			rmdir_below(c->rmdirs[i]);
		while (rmdir(c->rmdirs[i]) < 0 && errno != ENOENT) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!leaf)
				break;
			if (now.tv_sec - t0.tv_sec >= 5) {
				size_t l = strlen(left);
				snprintf(left + l, sizeof(left) - l, "%s%s", l ? ", " : "", c->rmdirs[i]);
				break;
			}
			/* what is left in this leaf's tree: the container may have put processes in
			 * sub-cgroups of one hierarchy only */
			kill_all_in(c->rmdirs[i]);
			thaw(c);
			usleep(10000);
			rmdir_below(c->rmdirs[i]);
		}
	}
	if (left[0]) {
		report("cannot remove the cgroups of %s: %s (still busy); the state is kept, try delete again", c->id,
		       left);
		return 1;
	}
	for (int i = 0; i < c->nunlink; i++) {
		char path[PATH_MAX + 300];
		if (strchr(c->unlinks[i], '/'))
			continue; /* names in the container's directory only */
		snprintf(path, sizeof(path), "%s/%s", c->dir, c->unlinks[i]);
		unlink(path);
	}
	if (rmdir(c->dir) < 0 && errno != ENOENT) {
		report("cannot remove the state directory %s: %s", c->dir, strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctr c = {.root = "/run/pyrunc"};
	int i = 1;
	orig_argv = argv;
	if (geteuid() != 0)
		fallback(); /* rootless: another default root, more checks */
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (!strcmp(a, "--root"))
			dst = &c.root;
		else if (!strcmp(a, "--log"))
			dst = &log_path;
		else if (!strcmp(a, "--log-format")) {
			if (i + 1 >= argc)
				fallback();
			if (!strcmp(argv[i + 1], "json"))
				log_json = 1;
			else if (strcmp(argv[i + 1], "text"))
				fallback();
			i++;
			continue;
		} else if (!strncmp(a, "--root=", 7)) {
			c.root = a + 7;
			continue;
		} else if (!strncmp(a, "--log=", 6)) {
			log_path = a + 6;
			continue;
		} else if (!strcmp(a, "--log-format=json")) {
			log_json = 1;
			continue;
		} else if (!strcmp(a, "--log-format=text")) {
			continue;
		} else if (!strcmp(a, "--systemd-cgroup") || !strcmp(a, "--systemd-cgroup=true") ||
			   !strcmp(a, "--systemd-cgroup=false")) {
			/* only create uses it: a container's manager is in its record (the record
			 * hands delete of a systemd-managed container to Python) */
			continue;
		} else {
			fallback(); /* --debug, --rootless, --help, ... */
		}
		if (i + 1 >= argc)
			fallback();
		*dst = argv[++i];
	}
	if (i >= argc || !*c.root)
		fallback();
	const char *cmd = argv[i++];
	python_subreaper = !strcmp(cmd, "create") || !strcmp(cmd, "run") || !strcmp(cmd, "exec");
	int force = 0;
	if (!strcmp(cmd, "delete"))
		for (; i < argc && argv[i][0] == '-'; i++) {
			if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f"))
				force = 1;
			else
				fallback();
		}
	int rest = argc - i;
	for (int j = i; j < argc; j++)
		if (argv[j][0] == '-')
			fallback(); /* a command option (kill --all, ...) */
	if (!strcmp(cmd, "delete") && rest == 1) {
		c.id = argv[i];
		return cmd_delete(&c, force);
	}
	if (!strcmp(cmd, "state") && rest == 1) {
		c.id = argv[i];
		return cmd_state(&c);
	}
	if (!strcmp(cmd, "kill") && (rest == 1 || rest == 2)) {
		c.id = argv[i];
		return cmd_kill(&c, rest == 2 ? argv[i + 1] : NULL);
	}
	if (!strcmp(cmd, "start") && rest == 1) {
		c.id = argv[i];
		return cmd_start(&c);
	}
	fallback();
	return 1;
}
