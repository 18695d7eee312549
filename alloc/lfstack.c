/*
 * lfstack.c — the lock-free stack of lfstack.h (a Treiber stack with a
 * tagged head).
 */
#include "lfstack.h"

#define PTR_BITS 42
#define PTR_MASK (((uint64_t)1 << PTR_BITS) - 1)
#define TAG_ONE ((uint64_t)1 << PTR_BITS)

static uint64_t encode(const void *rec)
{
	return LINEAR((uintptr_t)rec) >> 6;
}

static void *decode(uint64_t v)
{
	v &= PTR_MASK;
	return v ? (void *)UNLINEAR(v << 6) : NULL;
}

static uint64_t *link_of(const struct lfstack *st, const void *rec)
{
	return (uint64_t *)((uintptr_t)rec + st->link_offset);
}

void gh_lfstack_push(struct lfstack *st, void *rec)
{
	GH_ENSURE(((uintptr_t)rec & 63) == 0);
	uint64_t old = __atomic_load_n(&st->head, __ATOMIC_RELAXED), new;
	do {
		__atomic_store_n(link_of(st, rec), old & PTR_MASK, __ATOMIC_RELAXED);
		new = ((old & ~PTR_MASK) + TAG_ONE) | encode(rec);
	} while (!__atomic_compare_exchange_n(&st->head, &old, new, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

void *gh_lfstack_pop(struct lfstack *st)
{
	uint64_t old = __atomic_load_n(&st->head, __ATOMIC_ACQUIRE), new;
	void *rec;
	do {
		rec = decode(old);
		if (!rec)
			return NULL;
		new = ((old & ~PTR_MASK) + TAG_ONE) |
		      __atomic_load_n(link_of(st, rec), __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(&st->head, &old, new, true, __ATOMIC_ACQUIRE,
					      __ATOMIC_ACQUIRE));
	return rec;
}

void *gh_lfstack_first(const struct lfstack *st)
{
	return decode(__atomic_load_n(&st->head, __ATOMIC_ACQUIRE));
}

void *gh_lfstack_next(const struct lfstack *st, const void *rec)
{
	return decode(__atomic_load_n(link_of(st, rec), __ATOMIC_RELAXED));
}
