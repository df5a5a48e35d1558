/*
 * pyrunc-front: the `pyrunc` command.  It answers the calls that engines make most and
 * that need no planning -- `state`, `kill`, `start` and `delete` of an existing container --
 * by itself, and hands every other call, unchanged, to the Python runtime (the script
 * `pyrunc-py` beside it).  Starting a Python interpreter costs ~10 ms here, more than
 * everything these calls do (docs/performance.md).
 *
 * The rule that keeps the two in agreement: this program only takes the plain, successful
 * path.  Whenever something is unusual -- an option it does not know, a non-root caller,
 * --debug, an id or a state file it cannot read, a container that is not in the status the
 * call needs, a signal name it does not know, poststart or poststop hooks, mounts left in the
 * runtime's namespace -- it execs Python *before* doing anything, and Python gives the
 * answer or the error.  Two calls can fail after acting: `start` (the init reports a failed
 * execve through the exec fifo, which can be read once) and `delete` (a cgroup that stays
 * busy); they report the error themselves, on stderr and in --log, as Python would.
 *
 * It reads the state file that Python wrote (pyrunc/state.py): a flat JSON object whose
 * strings are ASCII with JSON escapes, which it copies verbatim when it prints them.
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

#ifndef SPEC_VERSION
#error "SPEC_VERSION must be defined (setup.py passes pyrunc.SPEC_VERSION)"
#endif
#define MAX_ID 255
#define STATE_MAX (1 << 20)

static char **orig_argv;
static const char *log_path;
static int log_json;

/* ---- the way out to Python ---- */

static int python_subreaper;  /* create, run, exec: Python would make itself a subreaper */

static void fallback(void)
{
	char self[PATH_MAX], py[PATH_MAX + 8];
	/* the flag survives execve: set here, it spares Python a cffi import (launch.py) */
	if (python_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0) {
		char pid[16];  /* our pid, which execve keeps: a value inherited from elsewhere never matches */
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
	execv(py, orig_argv);
	fprintf(stderr, "pyrunc: cannot run the Python runtime %s: %s\n", py, strerror(errno));
	exit(1);
}

/* ---- errors after acting (start only): stderr, and --log as pyrunc/log.py writes it ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void report(const char *fmt, ...)
{
	char msg[1024], stamp[64];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
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
		fputs("{\"level\": \"error\", \"msg\": ", f);
		json_str(f, msg);
		fprintf(f, ", \"time\": \"%s.%06ldZ\"}\n", stamp, ts.tv_nsec / 1000);
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

/* ---- the state file: spans of the top-level values ---- */

struct span {
	const char *p;
	size_t n;
};

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

/* the end of the JSON value at p (NULL if malformed); strings keep their escapes */
static const char *skip_value(const char *p)
{
	p = skip_ws(p);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p)
				return NULL;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = skip_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = skip_value(p); /* key */
				if (!p || *(p = skip_ws(p)) != ':')
					return NULL;
				p++;
			}
			p = skip_value(p);
			if (!p)
				return NULL;
			p = skip_ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			return *p == close ? p + 1 : NULL;
		}
	}
	if (*p == '-' || (*p >= '0' && *p <= '9') || *p == 't' || *p == 'f' || *p == 'n') {
		while (*p && !strchr(",}] \n\t\r", *p))
			p++;
		return p;
	}
	return NULL;
}

/* the value of key in the object at obj (span n = 0 if absent, p NULL if malformed) */
static struct span member(struct span obj, const char *key)
{
	struct span none = {0}, bad = {NULL, 1};
	const char *p = skip_ws(obj.p), *end = obj.p + obj.n;
	size_t klen = strlen(key);
	if (!obj.p || *p != '{')
		return bad;
	p = skip_ws(p + 1);
	while (p < end && *p != '}') {
		const char *k = p, *v, *ve;
		p = skip_value(p);
		if (!p || *k != '"' || *(p = skip_ws(p)) != ':')
			return bad;
		v = skip_ws(p + 1);
		ve = skip_value(v);
		if (!ve)
			return bad;
		if ((size_t)(p - k) >= klen + 2 && (size_t)(skip_value(k) - k) == klen + 2 &&
		    memcmp(k + 1, key, klen) == 0)
			return (struct span){v, (size_t)(ve - v)};
		p = skip_ws(ve);
		if (*p == ',')
			p = skip_ws(p + 1);
	}
	return none;
}

static int is_string(struct span s)
{
	return s.p && s.n >= 2 && s.p[0] == '"';
}

/* a string value without escapes, copied out (0 if absent; -1 if it needs decoding) */
static int plain_string(struct span s, char *out, size_t size)
{
	if (!s.p || s.n == 0)
		return 0;
	if (!is_string(s) || s.n - 2 >= size || memchr(s.p, '\\', s.n))
		return -1;
	memcpy(out, s.p + 1, s.n - 2);
	out[s.n - 2] = 0;
	return 1;
}

static long long number(struct span s)
{
	char buf[32];
	char *end;
	if (!s.p || s.n == 0 || s.n >= sizeof(buf))
		return -1;
	memcpy(buf, s.p, s.n);
	buf[s.n] = 0;
	long long v = strtoll(buf, &end, 10);
	return *end || v < 0 ? -1 : v;
}

/* ---- the container ---- */

struct ctr {
	const char *root, *id;
	char dir[PATH_MAX];
	char *text;
	struct span doc;
	long long pid, starttime;
	char freezer[PATH_MAX], unified[PATH_MAX];
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

static void load(struct ctr *c, int lock)
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
	snprintf(path, sizeof(path), "%s/state.json", c->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > STATE_MAX)
		fallback();
	c->text = malloc(st.st_size + 1);
	if (!c->text || read(fd, c->text, st.st_size) != st.st_size)
		fallback();
	close(fd);
	c->text[st.st_size] = 0;
	c->doc = (struct span){c->text, (size_t)st.st_size};
	if (skip_value(c->text) == NULL)
		fallback();
	c->pid = number(member(c->doc, "pid"));
	c->starttime = number(member(c->doc, "starttime"));
	if (c->pid <= 0 || c->starttime < 0)
		fallback();
	struct span cg = member(c->doc, "cgroups");
	c->freezer[0] = c->unified[0] = 0;
	if (cg.p && cg.n && cg.p[0] == '{') {
		if (plain_string(member(cg, "freezer"), c->freezer, sizeof(c->freezer)) < 0 ||
		    plain_string(member(cg, "unified"), c->unified, sizeof(c->unified)) < 0)
			fallback();
	} else if (!cg.p || (cg.n && strncmp(cg.p, "null", 4) != 0)) {
		fallback();
	}
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

static int frozen(struct ctr *c)
{
	char path[PATH_MAX + 32], buf[32] = {0};
	const char *want;
	if (c->freezer[0]) {
		snprintf(path, sizeof(path), "%s/freezer.state", c->freezer);
		want = "F";  /* FROZEN or FREEZING */
	} else if (c->unified[0]) {
		snprintf(path, sizeof(path), "%s/cgroup.freeze", c->unified);
		want = "1";
	} else {
		return 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] == want[0];
}

static const char *status(struct ctr *c)
{
	char path[PATH_MAX + 16];
	if (!init_alive(c))
		return "stopped";
	if (frozen(c))
		return "paused";
	snprintf(path, sizeof(path), "%s/exec.fifo", c->dir);
	return access(path, F_OK) == 0 ? "created" : "running";
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

/* config.hooks.<kind> holds anything but nothing, [] or null (or cannot be read) */
static int has_hooks(struct ctr *c, const char *kind)
{
	struct span cfg = member(c->doc, "config"), hooks = {0}, list = {0};
	if (cfg.p && cfg.p[0] == '{')
		hooks = member(cfg, "hooks");
	if (hooks.p && hooks.p[0] == '{')
		list = member(hooks, kind);
	if ((!cfg.p && cfg.n) || (!hooks.p && hooks.n) || (!list.p && list.n))
		return 1;
	return list.p && strncmp(list.p, "[]", 2) && strncmp(list.p, "null", 4);
}

/* the strings of an array, or the values of an object of strings, without escapes;
 * returns their number, -1 for anything else */
#define MAX_CG 32
static int strings_of(struct span v, char out[][PATH_MAX], int max)
{
	int n = 0;
	if (!v.p || v.n == 0 || !strncmp(v.p, "null", 4))
		return 0;
	char open = v.p[0];
	if (open != '[' && open != '{')
		return -1;
	const char *p = skip_ws(v.p + 1), *end = v.p + v.n - 1;
	while (p < end) {
		if (open == '{') {
			p = skip_value(p);
			if (!p || *(p = skip_ws(p)) != ':')
				return -1;
			p = skip_ws(p + 1);
		}
		const char *e = skip_value(p);
		if (!e || n >= max)
			return -1;
		if (plain_string((struct span){p, (size_t)(e - p)}, out[n], PATH_MAX) != 1)
			return -1;
		n++;
		p = skip_ws(e);
		if (*p == ',')
			p = skip_ws(p + 1);
	}
	return n;
}

/* the pids in the container's cgroup directory and below (pids, freezer, memory or v2) */
static void kill_all_in(const char *dir, int depth)
{
	char path[PATH_MAX + 16], buf[8192];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			for (char *p = buf, *e; *p; p = e) {
				long pid = strtol(p, &e, 10);
				if (e == p)
					break;
				if (pid > 0)
					kill((pid_t)pid, SIGKILL);
			}
		}
	}
	if (depth > 8)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			kill_all_in(path, depth + 1);
		}
	}
	closedir(d);
}

/* ---- the commands ---- */

static void print_string_field(const char *name, struct span v, int last)
{
	printf("  \"%s\": ", name);
	if (is_string(v))
		fwrite(v.p, 1, v.n, stdout);
	else
		fputs("\"\"", stdout);
	fputs(last ? "\n" : ",\n", stdout);
}

static int cmd_state(struct ctr *c)
{
	load(c, 0);
	const char *st = status(c);
	struct span ann = member(c->doc, "annotations");
	int has_ann = ann.p && ann.n > 2 && ann.p[0] == '{';
	if (ann.p == NULL)
		fallback();
	/* the annotations are printed one per line, as Python's indent=2: strings only */
	if (has_ann) {
		const char *p = skip_ws(ann.p + 1), *end = ann.p + ann.n - 1;
		while (p < end) {
			const char *k = p, *ke = skip_value(p), *v, *ve;
			if (!ke || *k != '"' || *(ke = skip_ws(ke)) != ':')
				fallback();
			v = skip_ws(ke + 1);
			ve = skip_value(v);
			if (!ve || *v != '"')
				fallback();
			p = skip_ws(ve);
			if (*p == ',')
				p = skip_ws(p + 1);
		}
	}
	printf("{\n  \"ociVersion\": \"%s\",\n", SPEC_VERSION);
	printf("  \"id\": \"%s\",\n", c->id);
	printf("  \"pid\": %lld,\n", strcmp(st, "stopped") ? c->pid : 0LL);
	printf("  \"status\": \"%s\",\n", st);
	print_string_field("bundle", member(c->doc, "bundle"), 0);
	print_string_field("rootfs", member(c->doc, "rootfs"), 0);
	print_string_field("created", member(c->doc, "created"), 0);
	print_string_field("owner", member(c->doc, "owner"), !has_ann);
	if (has_ann) {
		const char *p = skip_ws(ann.p + 1), *end = ann.p + ann.n - 1;
		fputs("  \"annotations\": {\n", stdout);
		while (p < end) {
			const char *k = p, *ke = skip_value(p);
			const char *v = skip_ws(skip_ws(ke) + 1), *ve = skip_value(v);
			fputs("    ", stdout);
			fwrite(k, 1, ke - k, stdout);
			fputs(": ", stdout);
			fwrite(v, 1, ve - v, stdout);
			p = skip_ws(ve);
			if (*p == ',')
				p = skip_ws(p + 1);
			fputs(p < end ? ",\n" : "\n", stdout);
		}
		fputs("  }\n", stdout);
	}
	fputs("}\n", stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

static const struct { const char *name; int sig; } SIGNALS[] = {
	{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"ILL", SIGILL}, {"TRAP", SIGTRAP},
	{"ABRT", SIGABRT}, {"IOT", SIGIOT}, {"BUS", SIGBUS}, {"FPE", SIGFPE}, {"KILL", SIGKILL},
	{"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},
	{"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},
	{"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
	{"TTOU", SIGTTOU}, {"URG", SIGURG}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
	{"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
	{"POLL", SIGPOLL}, {"PWR", SIGPWR}, {"SYS", SIGSYS},
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

static void thaw(struct ctr *c)
{
	char path[PATH_MAX + 32];
	const char *value;
	if (c->freezer[0]) {
		snprintf(path, sizeof(path), "%s/freezer.state", c->freezer);
		value = "THAWED";
	} else if (c->unified[0]) {
		snprintf(path, sizeof(path), "%s/cgroup.freeze", c->unified);
		value = "0";
	} else {
		return;
	}
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, value, strlen(value)) < 0) {
			/* a cleanup step, as Python's cgroups.thaw: errors are ignored */
		}
		close(fd);
	}
}

static int cmd_kill(struct ctr *c, const char *sigtext)
{
	int sig = parse_signal(sigtext);
	if (!sig)
		fallback();
	load(c, 1);
	const char *st = status(c);
	if (strcmp(st, "created") && strcmp(st, "running") && strcmp(st, "paused"))
		fallback();
	int pidfd = init_pidfd(c);
	if (pidfd < 0)
		fallback();
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		fallback();  /* nothing happened: Python says why */
	close(pidfd);
	if (sig == SIGKILL && strcmp(st, "paused") == 0)
		thaw(c);
	return 0;
}

static int cmd_start(struct ctr *c)
{
	char fifo[PATH_MAX + 16], buf[4096];
	size_t len = 0;
	load(c, 1);
	if (has_hooks(c, "poststart"))
		fallback();  /* poststart hooks are Python's */
	if (strcmp(status(c), "created") != 0)
		fallback();
	int pidfd = init_pidfd(c);
	if (pidfd < 0)
		fallback();
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", c->dir);
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		fallback();
	/* from here on the init is told to go: errors are reported here (pyrunc/lifecycle.py
	 * start() has the same protocol: "0", then end of file at execve, or "ERR …") */
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
	char *msg = buf + (len ? 1 : 0);
	while (*msg == ' ' || *msg == '\n')
		msg++;
	size_t ml = strlen(msg);
	while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == ' '))
		msg[--ml] = 0;
	if (len == 0 || buf[0] != '0' || ml) {
		if (strncmp(msg, "ERR ", 4) == 0)
			report("%s", msg + 4);
		else
			report("container %s failed to start", c->id);
		return 1;
	}
	return 0;
}

static int by_length_desc(const void *a, const void *b)
{
	return (int)strlen((const char *)b) - (int)strlen((const char *)a);
}

/* delete [--force] of a container with state: pyrunc/lifecycle.py destroy(), for the case
 * without poststop hooks or mounts in the runtime's namespace */
static int cmd_delete(struct ctr *c, int force)
{
	static char paths[MAX_CG][PATH_MAX], dirs[2 * MAX_CG][PATH_MAX];
	char piddir[PATH_MAX] = "";
	load(c, 1);
	struct span shared = member(c->doc, "shared_mounts");
	if (has_hooks(c, "poststop") || (shared.p && shared.n && strncmp(shared.p, "null", 4)) ||
	    (!shared.p && shared.n))
		fallback();
	int np = strings_of(member(c->doc, "cgroups"), paths, MAX_CG);
	int nc = strings_of(member(c->doc, "cgroups_created"), dirs, MAX_CG);
	if (np < 0 || nc < 0)
		fallback();
	const char *st = status(c);
	if (strcmp(st, "stopped") && !force)
		fallback();  /* Python says it is not stopped */
	/* the container's pid directory, as cgroups._pid_dir: pids, freezer, memory, v2 */
	struct span cg = member(c->doc, "cgroups");
	const char *keys[] = {"pids", "freezer", "memory", "unified"};
	for (int k = 0; k < 4 && !piddir[0]; k++)
		if (plain_string(member(cg, keys[k]), piddir, sizeof(piddir)) < 0)
			fallback();
	if (!piddir[0] && np > 0)
		snprintf(piddir, sizeof(piddir), "%s", paths[0]);
	int pidfd = strcmp(st, "stopped") ? init_pidfd(c) : -1;
	if (pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		thaw(c);
		struct pollfd pf = {pidfd, POLLIN, 0};
		poll(&pf, 1, 10000);
		close(pidfd);
	}
	if (piddir[0])
		kill_all_in(piddir, 0);
	thaw(c);
	/* the directories create made and the container's own, deepest first; the container's
	 * own are retried (killing what is left) for up to 5 s, as cgroups.remove() */
	int n = nc;
	for (int i = 0; i < np; i++) {
		int dup = 0;
		for (int j = 0; j < n && !dup; j++)
			dup = !strcmp(dirs[j], paths[i]);
		if (!dup)
			snprintf(dirs[n++], PATH_MAX, "%s", paths[i]);
	}
	qsort(dirs, n, PATH_MAX, by_length_desc);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char left[1024] = "";
	for (int i = 0; i < n; i++) {
		int leaf = 0;
		for (int j = 0; j < np && !leaf; j++)
			leaf = !strcmp(dirs[i], paths[j]);
		while (rmdir(dirs[i]) < 0 && errno != ENOENT) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!leaf)
				break;
			if (now.tv_sec - t0.tv_sec >= 5) {
				size_t l = strlen(left);
				snprintf(left + l, sizeof(left) - l, "%s%s", l ? ", " : "", dirs[i]);
				break;
			}
			if (piddir[0])
				kill_all_in(piddir, 0);
			thaw(c);
			usleep(10000);
		}
	}
	if (left[0]) {
		report("cannot remove the cgroups of %s: %s (still busy); the state is kept, try delete again",
		       c->id, left);
		return 1;
	}
	const char *files[] = {"state.json", "state.json.tmp", "exec.fifo"};
	for (int i = 0; i < 3; i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/%s", c->dir, files[i]);
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
		fallback();  /* rootless: another default root, more checks */
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
		} else {
			fallback();  /* --debug, --rootless, --systemd-cgroup, --help, ... */
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
			fallback();  /* a command option (kill --all, ...) */
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
