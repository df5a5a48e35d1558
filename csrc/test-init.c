/* The executor's protocol, tested from C: plans written here, pyrunc-init run on them, its
 * sync messages checked (make -C csrc check).  Needs no root: the plans build nothing.
 *
 *     test-init PATH-TO-PYRUNC-INIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan_ops.h"

static const char *init_path;
static int failures;

struct buf {
	char data[8192];
	size_t len;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > sizeof b->data) {
		fprintf(stderr, "test plan too large\n");
		exit(2);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* an op with argc string arguments */
static void op(struct buf *b, uint16_t code, int argc, const char **argv)
{
	uint16_t hdr[2] = {code, (uint16_t)argc};
	put(b, hdr, sizeof hdr);
	for (int i = 0; i < argc; i++) {
		uint32_t len = strlen(argv[i]) + 1;
		put(b, &len, 4);
		put(b, argv[i], len);
	}
}

/* run pyrunc-init on the plan; answer HOOKS with a state; return what it said on the sync pipe */
static char *run(struct buf *body, int *status)
{
	int plan[2], sync[2];
	static char out[16384];
	size_t n = 0;
	if (pipe(plan) < 0 || pipe(sync) < 0)
		exit(2);
	pid_t pid = fork();
	if (pid == 0) {
		char a[16], b[16];
		close(plan[1]);
		close(sync[0]);
		snprintf(a, sizeof a, "%d", plan[0]);
		snprintf(b, sizeof b, "%d", sync[1]);
		execl(init_path, "pyrunc-init", a, b, "0", (char *)NULL);
		_exit(99);
	}
	close(plan[0]);
	close(sync[1]);
	uint32_t hdr[3] = {PLAN_MAGIC, PLAN_VERSION, (uint32_t)body->len};
	if (write(plan[1], hdr, sizeof hdr) < 0 || write(plan[1], body->data, body->len) < 0) {
		/* the executor may have failed already: its message says why */
	}
	for (;;) {
		ssize_t r = read(sync[0], out + n, sizeof out - 1 - n);
		if (r <= 0)
			break;
		n += r;
		out[n] = 0;
		char *h = strstr(out, "HOOKS\n");
		if (h == out) {
			const char state[] = "{\"id\":\"t\"}";
			uint32_t len = sizeof state - 1;
			for (int i = 0; i < 2; i++) /* the createContainer and startContainer states */
				if (write(plan[1], &len, 4) < 0 || write(plan[1], state, len) < 0)
					break;
			memmove(out, out + 6, n - 6);
			n -= 6;
			out[n] = 0;
		}
	}
	out[n] = 0;
	close(plan[1]);
	close(sync[0]);
	waitpid(pid, status, 0);
	return out;
}

static void expect(const char *name, int ok, const char *got)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", name);
	if (!ok) {
		printf("     got: %s\n", got);
		failures++;
	}
}

/* parse "ERR <op> <errno> <len>\n<msg>": 1 when well formed and whole */
static int frame(const char *s, int *opi, int *err, char **msg)
{
	size_t len;
	int used = 0;
	if (sscanf(s, "ERR %d %d %zu\n%n", opi, err, &len, &used) != 3 || !used)
		return 0;
	if (strlen(s + used) != len)
		return 0;
	*msg = (char *)s + used;
	return 1;
}

int main(int argc, char **argv)
{
	int status, opi, err;
	char *msg, *out;
	if (argc != 2) {
		fprintf(stderr, "usage: test-init PYRUNC-INIT\n");
		return 2;
	}
	init_path = argv[1];

	{ /* a program that cannot be found: the op index and the message, no errno */
		struct buf b = {.len = 0};
		const char *lookup[] = {"no-such-program-here", "/nonexistent"};
		const char *nnp[] = {};
		op(&b, OP_NNP, 0, nnp);
		op(&b, OP_LOOKUP, 2, lookup);
		out = run(&b, &status);
		expect("lookup failure names op 1 and the program",
		       frame(out, &opi, &err, &msg) && opi == 1 && err == 0 &&
			       strstr(msg, "\"no-such-program-here\": executable file not found in $PATH"),
		       out);
	}
	{ /* errno is carried */
		struct buf b = {.len = 0};
		const char *cwd[] = {"/nonexistent-dir-of-test-init"};
		op(&b, OP_CWD, 1, cwd);
		out = run(&b, &status);
		expect("cwd failure carries ENOENT", frame(out, &opi, &err, &msg) && opi == 0 && err == ENOENT, out);
	}
	{ /* a hook's output of several lines arrives whole */
		struct buf b = {.len = 0};
		const char *none[] = {};
		const char *hook[] = {
			"error running createContainer hook #0",	   "0", "/bin/sh", "", "0", "3", "sh", "-c",
			"echo first; echo second; echo third >&2; exit 3", ""};
		op(&b, OP_SYNC_HOOKS, 0, none);
		op(&b, OP_HOOK, 10, hook);
		out = run(&b, &status);
		expect("hook output: every line, stdout and stderr",
		       frame(out, &opi, &err, &msg) && opi == 1 && strstr(msg, "exit status 3") &&
			       strstr(msg, "first\nsecond") && strstr(msg, "third"),
		       out);
	}
	{ /* an op with the wrong number of arguments is refused before anything runs */
		struct buf b = {.len = 0};
		const char *one[] = {"x"};
		op(&b, OP_CWD, 1, one);
		op(&b, OP_LOOKUP, 1, one);
		out = run(&b, &status);
		expect("arity checked when the plan is read",
		       frame(out, &opi, &err, &msg) && opi == -1 && strstr(msg, "lookup has 1 arguments"), out);
	}
	{ /* (uid_t)-1 would leave the executor's uid (root): ids past 2^31-1 are refused */
		struct buf b = {.len = 0};
		const char *user[] = {"4294967295", "4294967295", "", "0"};
		op(&b, OP_USER, 4, user);
		out = run(&b, &status);
		expect("uid 4294967295 refused by the executor",
		       frame(out, &opi, &err, &msg) && opi == 0 && strstr(msg, "must be in range 0-2147483647"), out);
	}
	{ /* a plan that execs: the sync pipe closes with nothing said */
		struct buf b = {.len = 0};
		const char *lookup[] = {"true", "/bin:/usr/bin"};
		const char *exec[] = {"0", "1", "true", ""};
		op(&b, OP_LOOKUP, 2, lookup);
		op(&b, OP_EXEC, 4, exec);
		out = run(&b, &status);
		expect("exec: end of file, exit 0", out[0] == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, out);
	}
	{ /* a wrong version is refused */
		struct buf b = {.len = 0};
		int plan[2], sync[2];
		char buf[512] = {0};
		if (pipe(plan) < 0 || pipe(sync) < 0)
			return 2;
		pid_t pid = fork();
		if (pid == 0) {
			char a[16], c[16];
			snprintf(a, sizeof a, "%d", plan[0]);
			snprintf(c, sizeof c, "%d", sync[1]);
			close(plan[1]);
			close(sync[0]);
			execl(init_path, "pyrunc-init", a, c, "0", (char *)NULL);
			_exit(99);
		}
		close(plan[0]);
		close(sync[1]);
		uint32_t hdr[3] = {PLAN_MAGIC, PLAN_VERSION + 1, 0};
		if (write(plan[1], hdr, sizeof hdr) < 0)
			return 2;
		/* to the end: the frame's header and its message may come in separate writes */
		size_t got = 0;
		ssize_t r;
		while (got < sizeof buf - 1 && (r = read(sync[0], buf + got, sizeof buf - 1 - got)) > 0)
			got += (size_t)r;
		waitpid(pid, &status, 0);
		expect("another plan version is refused", got > 0 && strstr(buf, "bad magic or version"), buf);
		(void)b;
	}
	return failures ? 1 : 0;
}
