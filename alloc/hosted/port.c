/*
 * port.c — goheap's hosted port: Linux user space, for tests, benchmarks and
 * LD_PRELOAD. This file is the one part of alloc/ that uses libc.
 *
 * "Physical memory" is one large anonymous reservation (MAP_NORESERVE: the
 * kernel backs pages only when touched), GOHEAP_HOSTED_MEM bytes (a number
 * with an optional K, M, G or T suffix; default 1G). goheap starts itself on
 * first use. Threads stand in for CPUs: each thread takes a CPU slot the
 * first time it calls goheap and gives it back when it exits; there are
 * GOHEAP_HOSTED_CPUS slots (default 64). There are no interrupts: a slot
 * belongs to one thread, so "interrupts off" needs no action.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../include/goheap.h"
#include "../port.h"
#include "port_hosted.h"

#define DEFAULT_MEM (1ull << 30)
#define DEFAULT_CPUS 64
#define MAX_CPUS 1024

void (*gh_hosted_panic_hook)(const char *msg);

static unsigned ncpu;
static pthread_once_t configured = PTHREAD_ONCE_INIT, started = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char slot_used[MAX_CPUS];
static __thread int my_slot = -1;
static void *reservation;
static size_t reservation_len;

static unsigned long long env_size(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end;
	unsigned long long n = strtoull(v, &end, 0);
	switch (*end) {
	case 'T':
	case 't':
		n <<= 10; /* fall through */
	case 'G':
	case 'g':
		n <<= 10; /* fall through */
	case 'M':
	case 'm':
		n <<= 10; /* fall through */
	case 'K':
	case 'k':
		n <<= 10;
	}
	return n;
}

static void release_slot(void *p)
{
	(void)p;
	pthread_mutex_lock(&slot_lock);
	if (my_slot >= 0)
		slot_used[my_slot] = 0;
	my_slot = -1;
	pthread_mutex_unlock(&slot_lock);
}

/* The CPU slots: needed by gh_init itself, so set up apart from start(). */
static void configure(void)
{
	ncpu = (unsigned)env_size("GOHEAP_HOSTED_CPUS", DEFAULT_CPUS);
	if (ncpu == 0 || ncpu > MAX_CPUS)
		ncpu = DEFAULT_CPUS;
	pthread_key_create(&slot_key, release_slot);
}

static void start(void)
{
	pthread_once(&configured, configure);
	reservation_len = env_size("GOHEAP_HOSTED_MEM", DEFAULT_MEM);
	reservation = mmap(NULL, reservation_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reservation == MAP_FAILED) {
		fprintf(stderr, "goheap: cannot reserve %zu bytes: %s\n", reservation_len,
			strerror(errno));
		abort();
	}
	struct gh_range r = {(uintptr_t)reservation, reservation_len};
	if (gh_init(&r, 1) != 0) {
		fprintf(stderr, "goheap: gh_init failed on %zu bytes\n", reservation_len);
		abort();
	}
}

void gh_port_first_use(void)
{
	pthread_once(&started, start);
}

void gh_hosted_reservation(void **base, size_t *len)
{
	gh_port_first_use();
	*base = reservation;
	*len = reservation_len;
}

unsigned gh_port_ncpu(void)
{
	pthread_once(&configured, configure);
	return ncpu;
}

unsigned gh_port_cpu(void)
{
	if (__builtin_expect(my_slot >= 0, 1))
		return (unsigned)my_slot;
	pthread_once(&configured, configure);
	pthread_mutex_lock(&slot_lock);
	for (unsigned i = 0; i < ncpu; i++)
		if (!slot_used[i]) {
			slot_used[i] = 1;
			my_slot = (int)i;
			break;
		}
	pthread_mutex_unlock(&slot_lock);
	if (my_slot < 0) {
		fprintf(stderr,
			"goheap: more than %u threads use goheap at once "
			"(raise GOHEAP_HOSTED_CPUS)\n",
			ncpu);
		abort();
	}
	pthread_setspecific(slot_key, &my_slot);
	return (unsigned)my_slot;
}

unsigned long gh_port_irq_save(void)
{
	return 0;
}
void gh_port_irq_restore(unsigned long cookie)
{
	(void)cookie;
}

void gh_port_relax(unsigned spins)
{
	__builtin_ia32_pause();
	if (spins % 64 == 0) /* the holder may be a preempted thread */
		sched_yield();
}

void gh_port_panic(const char *msg)
{
	if (gh_hosted_panic_hook)
		gh_hosted_panic_hook(msg);
	fprintf(stderr, "goheap: panic: %s\n", msg);
	abort();
}

void gh_port_log(const char *msg)
{
	fprintf(stderr, "goheap: %s\n", msg);
}

bool gh_port_release(void *addr, size_t len)
{
	return madvise(addr, len, MADV_DONTNEED) == 0;
}
