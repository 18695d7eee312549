/*
 * ghtest.h — goheap's test cases, written once, run by two runners.
 *
 * A case is a function declared with GH_TEST(suite, name). The hosted runner
 * (Linux user space, tests/hosted/) and the kernel runner (kernel/ktest.c,
 * inside QEMU) both link the same case files and run them through
 * tests/runner.c, which prints KTAP (the Linux kernel's test format).
 *
 *   GH_TEST(smp, apic_ids) {                 // runs once, on one CPU
 *       GH_EXPECT_EQ(count, expected);
 *   }
 *   GH_TEST_PERCPU(lock, counter) {          // runs at once on every CPU;
 *       ...                                  // t->cpu, t->ncpu tell which
 *   }
 *
 * A failed check records a diagnostic line (file:line, the expression and
 * the values) and marks the case failed; the case goes on unless the check
 * was a GH_ASSERT*, which returns from the case. Cases registered with
 * GH_TEST_DEMO only run when the "demo" option is given (see README): they
 * fail on purpose, to show that a failure reaches the summary.
 *
 * Nothing here allocates; the header compiles freestanding.
 */
#ifndef GOHEAP_TESTS_GHTEST_H
#define GOHEAP_TESTS_GHTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	GHT_PERCPU = 1u << 0, /* run concurrently on every CPU */
	GHT_DEMO = 1u << 1,   /* a deliberate failure, run only on request */
};

struct ght;

struct ght_case {
	const char *suite;
	const char *name;
	const char *file;
	int line;
	unsigned flags;
	void (*fn)(struct ght *t);
};

/* The state of one case on one CPU. Cases read cpu and ncpu; the rest is
 * the runner's. */
struct ght {
	unsigned cpu;  /* index of the CPU (or thread) running this instance */
	unsigned ncpu; /* how many instances run this case at once */
	const struct ght_case *c;
	unsigned failures;
	bool skipped;
	char skip_reason[96];
	size_t diag_len; /* bytes used in diag[] */
	char diag[2048]; /* "# ..." lines, printed before the result */
	/* GH_EXPECT_PANIC: where to resume, and what the panic said. */
	void *catch_jmp[5];
	volatile bool catching;
	char panic_msg[256];
};

/* Record one failed check: formats "file:line: msg" into t's diagnostics. */
void ght_fail(struct ght *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Add a diagnostic line without failing. */
void ght_log(struct ght *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Mark the case skipped (KTAP "# SKIP reason"); the case should return. */
void ght_skip(struct ght *t, const char *reason);
/* Value of a runner option given as "name" or "name=value" (kernel command
 * line, or GOHEAP_TEST_OPTS in the hosted runner); NULL when absent, "" for a
 * bare flag. */
const char *ght_option(const char *name);

#define GHT_SECTION "ght_cases"

#define GHT_DEFINE(suite_, name_, flags_)                                                  \
	static void ght_fn_##suite_##_##name_(struct ght *t);                              \
	static const struct ght_case ght_case_##suite_##_##name_                           \
	    __attribute__((used, section(GHT_SECTION), aligned(8))) = {                    \
		#suite_, #name_, __FILE__, __LINE__, (flags_), ght_fn_##suite_##_##name_}; \
	static void ght_fn_##suite_##_##name_(struct ght *t __attribute__((unused)))

#define GH_TEST(suite, name) GHT_DEFINE(suite, name, 0)
#define GH_TEST_PERCPU(suite, name) GHT_DEFINE(suite, name, GHT_PERCPU)
#define GH_TEST_DEMO(suite, name) GHT_DEFINE(suite, name, GHT_DEMO)

#define GH_EXPECT(cond) ((cond) ? (void)0 : ght_fail(t, __FILE__, __LINE__, "expected %s", #cond))

#define GHT_CMP(a, op, b, ret)                                                                  \
	do {                                                                                    \
		uint64_t ght_a_ = (uint64_t)(a), ght_b_ = (uint64_t)(b);                        \
		if (!(ght_a_ op ght_b_)) {                                                      \
			ght_fail(t, __FILE__, __LINE__,                                         \
				 "expected %s %s %s (0x%llx vs 0x%llx, %lld vs %lld)", #a, #op, \
				 #b, (unsigned long long)ght_a_, (unsigned long long)ght_b_,    \
				 (long long)ght_a_, (long long)ght_b_);                         \
			ret;                                                                    \
		}                                                                               \
	} while (0)

/* Compare as unsigned 64-bit integers; the message shows both values. */
#define GH_EXPECT_EQ(a, b) GHT_CMP(a, ==, b, (void)0)
#define GH_EXPECT_NE(a, b) GHT_CMP(a, !=, b, (void)0)
#define GH_EXPECT_LE(a, b) GHT_CMP(a, <=, b, (void)0)
#define GH_EXPECT_LT(a, b) GHT_CMP(a, <, b, (void)0)
#define GH_EXPECT_GE(a, b) GHT_CMP(a, >=, b, (void)0)
#define GH_EXPECT_GT(a, b) GHT_CMP(a, >, b, (void)0)
#define GH_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			ght_fail(t, __FILE__, __LINE__, "expected %s", #cond); \
			return;                                                \
		}                                                              \
	} while (0)
#define GH_ASSERT_EQ(a, b) GHT_CMP(a, ==, b, return )

/* Overwrite the dead part of the stack below the caller, so that stale
 * copies of pointers there do not keep collected objects alive (the
 * collector scans stacks conservatively). */
void ght_clobber_stack(void);

/* A scavenge goal (gh_set_scavenge_goal) that retains every free page:
 * for cases that compare page figures while a port's background scavenger
 * (an idle kernel CPU, the hosted mark thread) could release some. */
#define GHT_RETAIN_ALL_FREE (~(uint64_t)0 - 1)

/* Wait until *word (set by other CPUs) reaches at_least, spinning through
 * gh_port_relax: a hosted runner's threads outnumber the processors, and a
 * pure spin takes the processor from those it waits for. */
void ght_wait_until(const unsigned *word, unsigned at_least);

/* Does hay contain needle? */
bool ght_contains(const char *hay, const char *needle);

/* Compare strings; the message shows both. */
#define GH_EXPECT_STREQ(a, b) ght_expect_streq(t, __FILE__, __LINE__, #a, (a), (b))
void ght_expect_streq(struct ght *t, const char *file, int line, const char *expr, const char *a,
		      const char *b);

/*
 * Run stmt expecting goheap to report bad input through the port's panic
 * hook, with a message containing substr; the case goes on afterwards. The
 * panic must come before goheap takes a lock or changes anything, which is
 * what goheap promises for bad input. Locals assigned inside stmt are not
 * reliable afterwards.
 */
#define GH_EXPECT_PANIC(stmt, substr)                                                       \
	do {                                                                                \
		if (__builtin_setjmp(t->catch_jmp) == 0) {                                  \
			t->catching = true;                                                 \
			stmt;                                                               \
			t->catching = false;                                                \
			ght_fail(t, __FILE__, __LINE__, "expected a panic from %s", #stmt); \
		} else {                                                                    \
			ght_expect_panic_said(t, __FILE__, __LINE__, substr);               \
		}                                                                           \
	} while (0)
void ght_expect_panic_said(struct ght *t, const char *file, int line, const char *substr);
/* For the ports' panic hooks: if the case running on this CPU expects a
 * panic, resume it there (does not return); otherwise return. */
void ght_panic_catch(const char *msg);

#define GH_SKIP(reason)              \
	do {                         \
		ght_skip(t, reason); \
		return;              \
	} while (0)

/*
 * What a runner provides to tests/runner.c.
 */
struct ght_runner {
	const char *name;			/* KTAP comment: which runner */
	void (*write)(const char *s, size_t n); /* output, whole lines */
	unsigned (*ncpu)(void);
	unsigned (*this_cpu)(void); /* which CPU the caller runs on */
	/* Run fn(arg, cpu) on every CPU 0..ncpu-1 at the same time, each on its
	 * own CPU, and return when all have returned. */
	void (*run_on_all)(void (*fn)(void *arg, unsigned cpu), void *arg);
	const char *options; /* space-separated "name" / "name=value" */
};

/* Run every registered case that the "test=" option selects (a suite name,
 * or suite.case; all when absent) and print KTAP. Returns the number of
 * failed cases. */
unsigned ght_run_all(const struct ght_runner *r);

#endif
