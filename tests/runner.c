/*
 * runner.c — runs the registered test cases and prints KTAP, for both
 * runners (tests/hosted/main.c, kernel/ktest.c). Cases are grouped into one
 * KTAP subtest per suite, in the order their suites first appear in the
 * ght_cases section, and by source line within a suite. A case flagged
 * GHT_PERCPU runs at once on every CPU; it fails if any CPU's instance does,
 * and each failing CPU's diagnostics are printed with its number.
 */
#include <stdarg.h>

#include "../alloc/port.h"
#include "../kernel/fmt.h"
#include "ghtest.h"

#define GHT_MAX_CASES 1024
#define GHT_MAX_CPUS 64

extern const struct ght_case __start_ght_cases[], __stop_ght_cases[];

static const struct ght_runner *runner;
static struct ght instances[GHT_MAX_CPUS];
static struct ght *volatile running[GHT_MAX_CPUS]; /* the instance on each CPU */

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = fmt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	runner->write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void diag_append(struct ght *t, const char *fmt, va_list ap)
{
	size_t room = sizeof(t->diag) - t->diag_len;
	if (room < 2)
		return;
	int n = fmt_vsnprintf(t->diag + t->diag_len, room - 1, fmt, ap);
	size_t used = (size_t)n < room - 2 ? (size_t)n : room - 2;
	t->diag_len += used;
	t->diag[t->diag_len++] = '\n';
	t->diag[t->diag_len] = '\0';
}

void ght_fail(struct ght *t, const char *file, int line, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	fmt_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->failures++;
	ght_log(t, "%s:%d: %s", file, line, msg);
}

void ght_log(struct ght *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_append(t, fmt, ap);
	va_end(ap);
}

void ght_skip(struct ght *t, const char *reason)
{
	t->skipped = true;
	fmt_snprintf(t->skip_reason, sizeof(t->skip_reason), "%s", reason);
}

bool ght_contains(const char *hay, const char *needle)
{
	for (; *hay; hay++) {
		const char *h = hay, *n = needle;
		while (*n && *h == *n)
			h++, n++;
		if (!*n)
			return true;
	}
	return !*needle;
}

void ght_panic_catch(const char *msg)
{
	unsigned cpu = runner ? runner->this_cpu() : GHT_MAX_CPUS;
	struct ght *t = cpu < GHT_MAX_CPUS ? running[cpu] : NULL;
	if (!t || !t->catching)
		return;
	t->catching = false;
	fmt_snprintf(t->panic_msg, sizeof(t->panic_msg), "%s", msg);
	__builtin_longjmp(t->catch_jmp, 1);
}

void ght_expect_panic_said(struct ght *t, const char *file, int line, const char *substr)
{
	if (!ght_contains(t->panic_msg, substr))
		ght_fail(t, file, line, "panic said \"%s\", expected \"%s\" in it", t->panic_msg,
			 substr);
}

static bool streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

void ght_expect_streq(struct ght *t, const char *file, int line, const char *expr, const char *a,
		      const char *b)
{
	if (a && b && streq(a, b))
		return;
	ght_fail(t, file, line, "expected %s == \"%s\", got \"%s\"", expr, b ? b : "(null)",
		 a ? a : "(null)");
}

/* Find "name" or "name=value" as a whole word in a space-separated list. */
static const char *find_option(const char *opts, const char *name)
{
	if (!opts)
		return NULL;
	for (const char *p = opts; *p;) {
		while (*p == ' ')
			p++;
		const char *n = name;
		while (*n && *p == *n)
			p++, n++;
		if (!*n && (*p == '\0' || *p == ' '))
			return "";
		if (!*n && *p == '=')
			return p + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

/* Option values end at the next space; copy one out. */
static void option_word(const char *v, char *buf, size_t n)
{
	size_t i = 0;
	while (v && v[i] && v[i] != ' ' && i + 1 < n) {
		buf[i] = v[i];
		i++;
	}
	buf[i] = '\0';
}

const char *ght_option(const char *name)
{
	static char value[128];
	const char *v = find_option(runner ? runner->options : NULL, name);
	if (!v)
		return NULL;
	option_word(v, value, sizeof(value));
	return value;
}

/* test=a,b.c selects suite a and case b.c; no test= selects everything. */
static bool selected(const struct ght_case *c)
{
	if ((c->flags & GHT_DEMO) && !ght_option("demo"))
		return false;
	const char *sel = find_option(runner->options, "test");
	if (!sel)
		return true;
	char list[256], full[128];
	option_word(sel, list, sizeof(list));
	fmt_snprintf(full, sizeof(full), "%s.%s", c->suite, c->name);
	for (char *p = list; *p;) {
		char *e = p;
		while (*e && *e != ',')
			e++;
		char save = *e;
		*e = '\0';
		bool hit = streq(p, c->suite) || streq(p, full);
		*e = save;
		if (hit)
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

/* Index of the first case in cases[0..n) with this suite (and file, if given). */
static unsigned first_with(const struct ght_case **cases, unsigned n, const char *suite,
			   const char *file)
{
	unsigned i = 0;
	while (i < n && !(streq(cases[i]->suite, suite) && (!file || streq(cases[i]->file, file))))
		i++;
	return i;
}

/* Sort key: suites as they first appear in the section, then files, then
 * source lines. */
static uint64_t sort_key(const struct ght_case **cases, unsigned n, const struct ght_case *c)
{
	return (uint64_t)first_with(cases, n, c->suite, NULL) << 42 |
	       (uint64_t)first_with(cases, n, c->suite, c->file) << 21 | (uint64_t)c->line;
}

static void reset(struct ght *t, const struct ght_case *c, unsigned cpu, unsigned ncpu)
{
	t->cpu = cpu;
	t->ncpu = ncpu;
	t->c = c;
	t->failures = 0;
	t->skipped = false;
	t->skip_reason[0] = '\0';
	t->diag_len = 0;
	t->diag[0] = '\0';
}

static void run_instance(void *arg, unsigned cpu)
{
	const struct ght_case *c = arg;
	if (cpu >= GHT_MAX_CPUS)
		return;
	reset(&instances[cpu], c, cpu, runner->ncpu());
	running[cpu] = &instances[cpu];
	c->fn(&instances[cpu]);
	running[cpu] = NULL;
}

/* Print a case's diagnostics as KTAP comment lines at the given indent. */
static void print_diag(const struct ght *t, bool percpu)
{
	const char *p = t->diag;
	while (*p) {
		const char *e = p;
		while (*e && *e != '\n')
			e++;
		if (percpu)
			out("    # cpu %u: %.*s\n", t->cpu, (int)(e - p), p);
		else
			out("    # %.*s\n", (int)(e - p), p);
		p = *e ? e + 1 : e;
	}
}

/* Run one case; returns true when it passed or was skipped. */
static bool run_case(const struct ght_case *c, unsigned number)
{
	unsigned n = 1;
	if (c->flags & GHT_PERCPU) {
		n = runner->ncpu();
		if (n > GHT_MAX_CPUS)
			n = GHT_MAX_CPUS;
		runner->run_on_all(run_instance, (void *)c);
	} else {
		unsigned cpu = runner->this_cpu();
		reset(&instances[0], c, 0, 1);
		running[cpu] = &instances[0];
		c->fn(&instances[0]);
		running[cpu] = NULL;
	}
	unsigned failed = 0;
	bool skipped = false;
	for (unsigned i = 0; i < n; i++) {
		print_diag(&instances[i], n > 1 || (c->flags & GHT_PERCPU));
		failed += instances[i].failures != 0;
		skipped |= instances[i].skipped;
	}
	if (failed)
		out("    not ok %u %s\n", number, c->name);
	else if (skipped)
		out("    ok %u %s # SKIP %s\n", number, c->name, instances[0].skip_reason);
	else
		out("    ok %u %s\n", number, c->name);
	return failed == 0;
}

unsigned ght_run_all(const struct ght_runner *r)
{
	static const struct ght_case *cases[GHT_MAX_CASES];
	runner = r;
	unsigned n = 0;
	size_t ncases =
	    ((uintptr_t)__stop_ght_cases - (uintptr_t)__start_ght_cases) / sizeof(struct ght_case);
	for (size_t k = 0; k < ncases && n < GHT_MAX_CASES; k++)
		if (selected(&__start_ght_cases[k]))
			cases[n++] = &__start_ght_cases[k];

	static uint64_t keys[GHT_MAX_CASES];
	for (unsigned i = 0; i < n; i++)
		keys[i] = sort_key(cases, n, cases[i]);
	for (unsigned i = 1; i < n; i++) /* insertion sort: stable, n is small */
		for (unsigned k = i; k > 0 && keys[k] < keys[k - 1]; k--) {
			uint64_t key = keys[k];
			const struct ght_case *c = cases[k];
			keys[k] = keys[k - 1], cases[k] = cases[k - 1];
			keys[k - 1] = key, cases[k - 1] = c;
		}

	unsigned nsuites = 0;
	for (unsigned i = 0; i < n; i++)
		nsuites += i == 0 || !streq(cases[i]->suite, cases[i - 1]->suite);

	out("KTAP version 1\n# goheap %s runner: %u CPUs, %u cases\n1..%u\n", r->name, r->ncpu(), n,
	    nsuites);
	unsigned failed = 0, suite_no = 0;
	for (unsigned i = 0; i < n;) {
		unsigned end = i, suite_failed = 0;
		while (end < n && streq(cases[end]->suite, cases[i]->suite))
			end++;
		out("    KTAP version 1\n    # Subtest: %s\n    1..%u\n", cases[i]->suite, end - i);
		for (unsigned k = i; k < end; k++)
			suite_failed += !run_case(cases[k], k - i + 1);
		failed += suite_failed;
		out("%s %u %s\n", suite_failed ? "not ok" : "ok", ++suite_no, cases[i]->suite);
		i = end;
	}
	return failed;
}

void ght_wait_until(const unsigned *word, unsigned at_least)
{
	for (unsigned spins = 1; __atomic_load_n(word, __ATOMIC_ACQUIRE) < at_least; spins++)
		gh_port_relax(spins);
}

__attribute__((noinline)) void ght_clobber_stack(void)
{
	volatile uint8_t buf[8192];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = 0;
}
