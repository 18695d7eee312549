/*
 * mfinal.c — finalizers (Go's mfinal.go and the finalizer specials of
 * mheap.go), and gh_malloc_scanned's list of spans.
 *
 * A finalizer is a record in its object's span, kept sorted by offset, and
 * in one global list that the mark phase walks: what a finalizer-bearing
 * object points to is marked, the object itself is not (Go's rule, so an
 * object that only a finalizer's own object reaches is still finalized).
 * When the sweeper finds the object unmarked, it marks it after all (it
 * lives one more cycle), moves the record to the queue, and the port is
 * asked to call gh_run_finalizers. Queued records are roots until their
 * finalizer has run.
 *
 * Every list here is under gc.special_lock.
 */
#include "mgc.h"

/* Records link into the global list through gnext/gprev, after the span
 * list's next: they extend struct special privately. */
struct final {
	struct special sp;
	struct final *gnext, *gprev;
};
static struct final *all_finals;

/* The start of the collected object obj as gh_new returned it, with its
 * span and slot; NULL when obj is not one. */
static struct mspan *object_of(void *obj, uintptr_t *slot)
{
	struct mspan *s;
	uint32_t idx;
	uintptr_t p = (uintptr_t)obj, base = gh_find_object(p, &s, &idx);
	if (!base)
		return NULL;
	bool header = s->state == MSPAN_GC && !(s->spanclass & 1) && s->elemsize > MAX_HEAPBITS_OBJ;
	bool tiny = s->state == MSPAN_GC && (s->spanclass & 1) && s->elemsize == TINY_SIZE;
	if (p != base + (header ? MALLOC_HEADER : 0) && !tiny)
		return NULL;
	*slot = base;
	return s;
}

static void unlink_global(struct final *f)
{
	if (f->gprev)
		f->gprev->gnext = f->gnext;
	else
		all_finals = f->gnext;
	if (f->gnext)
		f->gnext->gprev = f->gprev;
}

void gh_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg)
{
	uintptr_t slot;
	struct mspan *s = gh_mheap_ready() ? object_of(obj, &slot) : NULL;
	if (!s)
		gh_panicf("gh_set_finalizer(%p): not the start of a collected object (from gh_new)",
			  obj);
	uint32_t offset = (uint32_t)((uintptr_t)obj - s->base);
	struct final *f = fn ? gh_malloc(sizeof(*f)) : NULL;
	if (fn && !f)
		gh_panicf("gh_set_finalizer(%p): out of memory for the record", obj);
	unsigned long cookie = gh_lock(&gh_gcs.special_lock);
	struct special **pp = &s->specials;
	while (*pp && (*pp)->offset < offset)
		pp = &(*pp)->next;
	struct final *old = *pp && (*pp)->offset == offset ? (struct final *)*pp : NULL;
	if (old && fn) {
		gh_unlock(&gh_gcs.special_lock, cookie);
		gh_free(f);
		gh_panicf("gh_set_finalizer(%p): the object already has a finalizer", obj);
	}
	if (old) {
		*pp = old->sp.next;
		unlink_global(old);
	} else if (fn) {
		*f = (struct final){{*pp, offset, (uintptr_t)obj, fn, arg}, all_finals, NULL};
		if (all_finals)
			all_finals->gprev = f;
		all_finals = f;
		*pp = &f->sp;
	}
	gh_unlock(&gh_gcs.special_lock, cookie);
	if (old)
		gh_free(old);
}

void gc_mark_finalizers(struct gcwork *w, uint64_t *work)
{
	unsigned long cookie = gh_lock(&gh_gcs.special_lock);
	for (struct final *f = all_finals; f; f = f->gnext) {
		struct mspan *s;
		uint32_t idx;
		uintptr_t base = gh_find_object(f->sp.obj, &s, &idx);
		if (base && !(s->spanclass & 1))
			gc_scan_object(w, base, work); /* what it reaches, not itself */
		gh_greyobject(w, (uintptr_t)f->sp.arg);
	}
	for (struct special *q = gh_gcs.finq; q; q = q->next) {
		gh_greyobject(w, q->obj);
		gh_greyobject(w, (uintptr_t)q->arg);
	}
	gh_unlock(&gh_gcs.special_lock, cookie);
}

void gc_sweep_specials(struct mspan *s)
{
	bool queued = false;
	unsigned long cookie = gh_lock(&gh_gcs.special_lock);
	for (struct special **pp = &s->specials; *pp;) {
		struct final *f = (struct final *)*pp;
		uint32_t idx = s->state == MSPAN_GC_LARGE ? 0 : f->sp.offset / s->elemsize;
		if (gh_span_marked(s, idx)) {
			pp = &f->sp.next;
			continue;
		}
		/* unreachable: keep it for its finalizer, which runs once */
		gc_mark_slot(s, idx);
		*pp = f->sp.next;
		unlink_global(f);
		f->sp.next = gh_gcs.finq;
		gh_gcs.finq = &f->sp;
		__atomic_fetch_add(&gh_gcs.finalizers_queued, 1, __ATOMIC_RELAXED);
		queued = true;
	}
	gh_unlock(&gh_gcs.special_lock, cookie);
	if (queued)
		gh_port_finalizers_queued();
}

unsigned gh_run_finalizers(void)
{
	unsigned n = 0;
	for (;;) {
		unsigned long cookie = gh_lock(&gh_gcs.special_lock);
		struct special *q = gh_gcs.finq;
		if (q)
			gh_gcs.finq = q->next;
		gh_unlock(&gh_gcs.special_lock, cookie);
		if (!q)
			return n;
		q->fn((void *)q->obj, q->arg);
		__atomic_fetch_add(&gh_gcs.finalizers_run, 1, __ATOMIC_RELAXED);
		gh_free(q);
		n++;
	}
}

/* ---- gh_malloc_scanned's spans ---- */

void gc_scanned_add(struct mspan *s)
{
	unsigned long cookie = gh_lock(&gh_gcs.scanned_lock);
	s->scanned = 1;
	s->scanned_prev = NULL;
	s->scanned_next = gh_gcs.scanned;
	if (gh_gcs.scanned)
		gh_gcs.scanned->scanned_prev = s;
	gh_gcs.scanned = s;
	gh_unlock(&gh_gcs.scanned_lock, cookie);
}

void gc_scanned_remove(struct mspan *s)
{
	unsigned long cookie = gh_lock(&gh_gcs.scanned_lock);
	if (s->scanned_prev)
		s->scanned_prev->scanned_next = s->scanned_next;
	else
		gh_gcs.scanned = s->scanned_next;
	if (s->scanned_next)
		s->scanned_next->scanned_prev = s->scanned_prev;
	s->scanned = 0;
	gh_unlock(&gh_gcs.scanned_lock, cookie);
}
