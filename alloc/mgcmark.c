/*
 * mgcmark.c — finding objects from pointers and marking them; see
 * mgcmark.h.
 */
#include "mgcmark.h"

uintptr_t gh_find_object(uintptr_t p, struct mspan **sp, uint32_t *idxp)
{
	struct mspan *s = gh_span_of(p);
	if (!s)
		return 0;
	if (s->state == MSPAN_LARGE) {
		*sp = s;
		*idxp = 0;
		return s->base;
	}
	if (s->state != MSPAN_SMALL)
		return 0;
	uint32_t idx = span_obj_index(s, p);
	if (idx >= s->nelems || !span_bit(s->allocBits, idx))
		return 0;
	*sp = s;
	*idxp = idx;
	return s->base + (uintptr_t)idx * s->elemsize;
}

bool gh_greyobject(struct gcwork *w, uintptr_t p)
{
	struct mspan *s;
	uint32_t idx;
	uintptr_t base = gh_find_object(p, &s, &idx);
	if (!base)
		return false;
	bool first;
	if (s->state == MSPAN_LARGE) {
		first = !__atomic_exchange_n(&s->largemark, 1, __ATOMIC_RELAXED);
	} else {
		uint64_t m = (uint64_t)1 << (idx % 64);
		/* a plain load first: most pointers found are to marked objects */
		first = !(__atomic_load_n(&s->gcmarkBits[idx / 64], __ATOMIC_RELAXED) & m) &&
			!(__atomic_fetch_or(&s->gcmarkBits[idx / 64], m, __ATOMIC_RELAXED) & m);
	}
	if (first)
		gh_gcwork_put(w, base);
	return first;
}

unsigned gh_scan_conservative(struct gcwork *w, uintptr_t base, size_t len)
{
	unsigned marked = 0;
	const uintptr_t *word = (const uintptr_t *)gh_align_up(base, sizeof(uintptr_t));
	for (const uintptr_t *end = (const uintptr_t *)(base + len); word + 1 <= end; word++)
		marked += gh_greyobject(w, __atomic_load_n(word, __ATOMIC_RELAXED));
	return marked;
}

void gh_span_clear_marks(struct mspan *s)
{
	if (s->state == MSPAN_LARGE)
		__atomic_store_n(&s->largemark, 0, __ATOMIC_RELAXED);
	else
		for (uint32_t w = 0; w < (s->nelems + 63u) / 64; w++)
			__atomic_store_n(&s->gcmarkBits[w], 0, __ATOMIC_RELAXED);
}

bool gh_span_marked(const struct mspan *s, uint32_t idx)
{
	if (s->state == MSPAN_LARGE)
		return __atomic_load_n(&s->largemark, __ATOMIC_RELAXED) != 0;
	return span_bit(s->gcmarkBits, idx);
}
