/*
 * port.c — goheap's hosted port: Linux user space, for tests, benchmarks and
 * LD_PRELOAD. This file is the one part of alloc/ that uses libc.
 *
 * "Physical memory" is one large anonymous reservation (MAP_NORESERVE: the
 * kernel backs pages only when touched), GOHEAP_HOSTED_MEM bytes (a number
 * with an optional K, M, G or T suffix; default 1G). goheap starts itself on
 * first use. When it runs out, the port reserves more (gh_port_grow), each
 * time at least as much as goheap has, up to GOHEAP_HOSTED_MAX bytes in all
 * (default 1T); gh_hosted_grow = false turns that off. Threads stand in for CPUs: each thread takes a CPU slot the
 * first time it calls goheap, and when it exits gives back what the slot
 * caches (gh_cache_flush) and then the slot. There are GOHEAP_HOSTED_CPUS
 * slots (default 64). The last is shared: threads that find no free slot,
 * and threads past their exit, use it under a mutex taken by
 * gh_port_irq_save. Otherwise there are no interrupts: a slot belongs to one
 * thread, so "interrupts off" needs no action.
 *
 * fork: the heap lock and the port's locks are taken around it, so the
 * child starts with goheap consistent. Slots of threads that do not exist
 * in the child stay taken there: what they cache is lost to the child, a
 * bounded amount, rather than reused half-updated.
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

#define TLS __thread __attribute__((tls_model("initial-exec")))
#define NO_SLOT (-1)
#define EXITED (-2)

static unsigned ncpu;
static pthread_once_t configured = PTHREAD_ONCE_INIT, started = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t reserved_total, reserve_max;
bool gh_hosted_grow = true;
static unsigned char slot_used[MAX_CPUS];
TLS int gh_hosted_slot = NO_SLOT; /* this thread's slot (port_inline.h) */
unsigned gh_hosted_shared_slot;
static TLS unsigned shared_depth; /* nesting of irq_save on the shared slot */
#define my_slot gh_hosted_slot
#define shared_slot gh_hosted_shared_slot
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

/* A thread exits: what its slot caches goes back, then the slot. */
static void release_slot(void *p)
{
	(void)p;
	if (my_slot < 0)
		return;
	gh_cache_flush();
	pthread_mutex_lock(&slot_lock);
	slot_used[my_slot] = 0;
	my_slot = EXITED;
	pthread_mutex_unlock(&slot_lock);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&grow_lock);
	pthread_mutex_lock(&slot_lock);
	pthread_mutex_lock(&shared_lock);
	gh_fork_prepare();
}

static void fork_parent(void)
{
	gh_fork_parent();
	pthread_mutex_unlock(&shared_lock);
	pthread_mutex_unlock(&slot_lock);
	pthread_mutex_unlock(&grow_lock);
}

static void fork_child(void)
{
	gh_fork_child();
	pthread_mutex_unlock(&shared_lock);
	pthread_mutex_unlock(&slot_lock);
	pthread_mutex_unlock(&grow_lock);
}

/* The CPU slots: needed by gh_init itself, so set up apart from start(). */
static void configure(void)
{
	ncpu = (unsigned)env_size("GOHEAP_HOSTED_CPUS", DEFAULT_CPUS);
	if (ncpu < 2 || ncpu > MAX_CPUS)
		ncpu = DEFAULT_CPUS;
	shared_slot = ncpu - 1;
	pthread_key_create(&slot_key, release_slot);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
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
	reserved_total = reservation_len;
	reserve_max = env_size("GOHEAP_HOSTED_MAX", 1ull << 40);
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

bool gh_port_grow(size_t bytes)
{
	bool ok = false;
	if (!gh_hosted_grow)
		return false;
	pthread_mutex_lock(&grow_lock);
	/* Double what goheap has, or more for a large request (plus room for
	 * the range's metadata). */
	size_t len = reserved_total > bytes ? reserved_total : bytes + bytes / 8 + (64 << 20);
	len = (len + (1 << 30) - 1) & ~(size_t)((1 << 30) - 1);
	if (reserved_total + len <= reserve_max) {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED && gh_add_memory((uintptr_t)p, len) == 0) {
			reserved_total += len;
			ok = true;
		} else if (p != MAP_FAILED) {
			munmap(p, len);
		}
	}
	pthread_mutex_unlock(&grow_lock);
	return ok;
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

/* A slot of this thread's own, if one is free. */
static bool claim_slot(void)
{
	pthread_once(&configured, configure);
	pthread_mutex_lock(&slot_lock);
	for (unsigned i = 0; i < shared_slot; i++)
		if (!slot_used[i]) {
			slot_used[i] = 1;
			my_slot = (int)i;
			break;
		}
	pthread_mutex_unlock(&slot_lock);
	if (my_slot < 0)
		return false;
	pthread_setspecific(slot_key, &my_slot);
	return true;
}

/* Without a slot of its own a thread uses the shared one, under a mutex
 * held from the outermost irq_save to the matching restore. */
unsigned long GH_HOSTED_SLOW gh_hosted_save_slow(void)
{
	if (my_slot == NO_SLOT && shared_depth == 0 && claim_slot())
		return 0;
	if (shared_depth++ == 0)
		pthread_mutex_lock(&shared_lock);
	return 1;
}

void GH_HOSTED_SLOW gh_hosted_restore_slow(void)
{
	if (--shared_depth == 0)
		pthread_mutex_unlock(&shared_lock);
	/* Not a tail call: clang restores the saved registers, the argument
	 * among them, before jumping to one. */
	__asm__ volatile("");
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
