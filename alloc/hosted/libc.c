/*
 * libc.c — the C library's allocation functions on goheap, for
 * build/hosted/libgoheap.so: LD_PRELOAD=build/hosted/libgoheap.so runs a
 * program with goheap as its malloc. Errors follow the C library: NULL with
 * errno ENOMEM, EINVAL for a bad alignment.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "../malloc_inline.h"

#define EXPORT __attribute__((visibility("default")))

static void *nomem(void *p)
{
	if (!p)
		errno = ENOMEM;
	return p;
}

/* malloc's slow paths, which set errno when they fail. */
static __attribute__((noinline)) void *small_slow(struct gh_cpu *c, unsigned cpu, unsigned cls, unsigned flags,
			unsigned long irq)
{
	return nomem(gh_malloc_small_slow(c, cpu, cls, flags, irq));
}

static __attribute__((noinline)) void *other(size_t n, unsigned flags)
{
	return nomem(gh_malloc_flags(n, flags));
}

EXPORT void *malloc(size_t n)
{
	return gh_malloc_inline(n, small_slow, other);
}

EXPORT void free(void *p)
{
	gh_free_inline(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	return nomem(gh_calloc(n, size));
}

EXPORT void *realloc(void *p, size_t n)
{
	if (p && !n) {
		gh_free(p);
		return NULL;
	}
	return nomem(gh_realloc(p, n));
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, bytes);
}

static bool power_of_two(size_t a)
{
	return a && !(a & (a - 1));
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (!power_of_two(align) || align % sizeof(void *))
		return EINVAL;
	void *p = gh_aligned_alloc(align, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return nomem(gh_aligned_alloc(align, n));
}

EXPORT void *memalign(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

EXPORT void *valloc(size_t n)
{
	return nomem(gh_aligned_alloc(page_size(), n));
}

EXPORT void *pvalloc(size_t n)
{
	size_t pg = page_size();
	if (n > SIZE_MAX - pg) {
		errno = ENOMEM;
		return NULL;
	}
	return nomem(gh_aligned_alloc(pg, (n + pg - 1) & ~(pg - 1)));
}

EXPORT size_t malloc_usable_size(void *p)
{
	return gh_usable_size(p);
}
