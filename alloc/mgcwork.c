/*
 * mgcwork.c — the collector's work buffers (Go's mgcwork.go); see
 * mgcwork.h. Workbufs come from persistentalloc and are reused, never
 * freed: the lists hold at most what the deepest mark phase needed.
 */
#include "mgcwork.h"

#include "mheap.h"

struct workpool gh_work; /* both lists link through workbuf.link, offset 0 */

_Static_assert(sizeof(struct workbuf) == WORKBUF_BYTES, "a workbuf is 2 KiB");

/* An empty workbuf; NULL when memory is exhausted (see overflow). */
static struct workbuf *getempty(void)
{
	struct workbuf *b = gh_lfstack_pop(&gh_work.empty);
	if (!b) {
		b = gh_persistentalloc(sizeof(*b), 64);
		if (!b)
			return NULL;
		__atomic_fetch_add(&gh_work.nbufs, 1, __ATOMIC_RELAXED);
	}
	b->nobj = 0;
	return b;
}

/* No workbuf for a grey object: it stays marked but unqueued, and the
 * collector rescans the marked objects later (Boehm's mark-stack
 * overflow), so exhausted memory slows marking instead of stopping it. */
static void overflow(void)
{
	__atomic_store_n(&gh_work.overflow, 1, __ATOMIC_RELEASE);
}

static void putempty(struct workbuf *b)
{
	gh_lfstack_push(&gh_work.empty, b);
}

static void putfull(struct workbuf *b)
{
	gh_lfstack_push(&gh_work.full, b);
}

/* Both buffers for a put: an empty one to fill, and a full one to take
 * work from next if there is one (a CPU that greys also drains). */
static bool init(struct gcwork *w)
{
	struct workbuf *a = getempty(), *b;
	if (!a)
		a = gh_lfstack_pop(&gh_work.full);
	if (!a)
		return false;
	b = gh_lfstack_pop(&gh_work.full);
	if (!b)
		b = getempty();
	if (!b) {
		gh_lfstack_push(a->nobj ? &gh_work.full : &gh_work.empty, a);
		return false;
	}
	w->wbuf1 = a;
	w->wbuf2 = b;
	return true;
}

/* Both buffers for a get, only if there is a full one: a CPU that looked
 * for work and found none holds no buffer of the empty list. */
static bool init_get(struct gcwork *w)
{
	struct workbuf *a = gh_lfstack_pop(&gh_work.full);
	if (!a)
		return false;
	struct workbuf *b = getempty();
	if (!b) {
		putfull(a);
		return false;
	}
	w->wbuf1 = a;
	w->wbuf2 = b;
	return true;
}

static void swap(struct gcwork *w)
{
	struct workbuf *t = w->wbuf1;
	w->wbuf1 = w->wbuf2;
	w->wbuf2 = t;
}

void gh_gcwork_put(struct gcwork *w, uintptr_t obj)
{
	if (!w->wbuf1 && !init(w))
		return overflow();
	if (w->wbuf1->nobj == WORKBUF_OBJS) {
		swap(w);
		if (w->wbuf1->nobj == WORKBUF_OBJS) { /* both full: share one */
			struct workbuf *b = getempty();
			if (!b)
				return overflow();
			putfull(w->wbuf1);
			w->wbuf1 = b;
		}
	}
	w->wbuf1->obj[w->wbuf1->nobj++] = obj;
}

uintptr_t gh_gcwork_tryget(struct gcwork *w)
{
	if (!w->wbuf1 && !init_get(w))
		return 0;
	if (w->wbuf1->nobj == 0) {
		swap(w);
		if (w->wbuf1->nobj == 0) { /* both empty: take a full one */
			struct workbuf *b = gh_lfstack_pop(&gh_work.full);
			if (!b)
				return 0;
			putempty(w->wbuf1);
			w->wbuf1 = b;
		}
	}
	return w->wbuf1->obj[--w->wbuf1->nobj];
}

void gh_gcwork_balance(struct gcwork *w)
{
	/* as Go's gcDrain: only when the shared list has run dry */
	if (!w->wbuf1 || gh_lfstack_first(&gh_work.full))
		return;
	struct workbuf *b = w->wbuf2->nobj || w->wbuf1->nobj > 4 ? getempty() : NULL;
	if (!b)
		return;
	if (w->wbuf2->nobj) {
		putfull(w->wbuf2);
		w->wbuf2 = b;
	} else { /* hand off half of the first */
		uint64_t n = w->wbuf1->nobj / 2;
		w->wbuf1->nobj -= n;
		__builtin_memcpy(b->obj, &w->wbuf1->obj[w->wbuf1->nobj], n * sizeof(uintptr_t));
		b->nobj = n;
		putfull(w->wbuf1);
		w->wbuf1 = b;
	}
}

bool gh_gcwork_empty(const struct gcwork *w)
{
	return !w->wbuf1 || (w->wbuf1->nobj == 0 && w->wbuf2->nobj == 0);
}

void gh_gcwork_dispose(struct gcwork *w)
{
	struct workbuf *b[2] = {w->wbuf1, w->wbuf2};
	for (unsigned i = 0; i < 2 && b[0]; i++) {
		if (b[i]->nobj)
			putfull(b[i]);
		else
			putempty(b[i]);
	}
	w->wbuf1 = w->wbuf2 = NULL;
}
