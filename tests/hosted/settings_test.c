/*
 * settings_test.c — hosted only: GOHEAP_GOGC and GOHEAP_MEMLIMIT, read as
 * goheap starts (as Go reads GOGC and GOMEMLIMIT), set the collector; a
 * value that is neither a number nor "off" is reported on stderr and
 * leaves the default. Each setting is tried in a fresh process: this
 * runner run again with the variables set, as "ghtest --settings", which
 * prints what the collector took (tests/hosted/main.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../alloc/include/goheap.h"
#include "../ghtest.h"

static void set(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static void take(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;
	while (n < len - 1 && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	close(fd);
}

/* Run this runner as "ghtest --settings" with gogc and limit in its
 * environment (NULL: unset); its stdout into out, its stderr into err
 * (both short: the pipes hold them until it exits). */
static bool child(const char *gogc, const char *limit, char *out, size_t outlen, char *err,
		  size_t errlen)
{
	int o[2], e[2];
	if (pipe(o) || pipe(e))
		return false;
	pid_t pid = fork();
	if (pid == 0) {
		set("GOHEAP_GOGC", gogc);
		set("GOHEAP_MEMLIMIT", limit);
		dup2(o[1], 1);
		dup2(e[1], 2);
		execl("/proc/self/exe", "ghtest", "--settings", (char *)NULL);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		close(o[0]);
		close(e[0]);
		return false;
	}
	take(o[0], out, outlen);
	take(e[0], err, errlen);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

GH_TEST(hosted, settings_from_environment)
{
	static const struct {
		const char *gogc, *limit, *want, *complaint;
	} cases[] = {
	    {NULL, NULL, "settings gogc=100 limit=18446744073709551615\n", NULL},
	    {"50", NULL, "settings gogc=50 limit=18446744073709551615\n", NULL},
	    {"off", NULL, "settings gogc=-1 limit=18446744073709551615\n", NULL},
	    {"0", "off", "settings gogc=0 limit=18446744073709551615\n", NULL},
	    {"off", "64M", "settings gogc=-1 limit=67108864\n", NULL},
	    {NULL, "4096", "settings gogc=100 limit=4096\n", NULL},
	    {"fifty", NULL, "settings gogc=100 limit=18446744073709551615\n", "GOHEAP_GOGC=fifty"},
	    {"-5", NULL, "settings gogc=100 limit=18446744073709551615\n", "GOHEAP_GOGC=-5"},
	    {NULL, "lots", "settings gogc=100 limit=18446744073709551615\n", "GOHEAP_MEMLIMIT=lots"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128], err[1024];
		bool ran = child(cases[i].gogc, cases[i].limit, out, sizeof(out), err, sizeof(err));
		GH_EXPECT(ran);
		GH_EXPECT_STREQ(out, cases[i].want);
		if (cases[i].complaint)
			GH_EXPECT(strstr(err, cases[i].complaint) != NULL);
		else
			GH_EXPECT(!strstr(err, "goheap:"));
		if (t->failures) {
			ght_log(t, "GOHEAP_GOGC=%s GOHEAP_MEMLIMIT=%s: %s (stderr: %s)",
				cases[i].gogc ? cases[i].gogc : "(unset)",
				cases[i].limit ? cases[i].limit : "(unset)", out, err);
			break;
		}
	}
}
