/*
 * mgcwork.c — the collector's work buffers (Go's mgcwork.go); see
 * mgcwork.h. Workbufs come from persistentalloc and are reused, never
 * freed: the lists hold at most what the deepest mark phase needed.
 */
#include "mgcwork.h"

#include "mheap.h"

struct workpool gh_work; /* both lists link through workbuf.link, offset 0 */

_Static_assert(sizeof(struct workbuf) == WORKBUF_BYTES, "a workbuf is 2 KiB");

static struct workbuf *getempty(void)
{
	struct workbuf *b = gh_lfstack_pop(&gh_work.empty);
	if (!b) {
		b = gh_persistentalloc(sizeof(*b), 64);
		if (!b)
			gh_panicf("goheap: out of memory for the collector's work buffers");
		__atomic_fetch_add(&gh_work.nbufs, 1, __ATOMIC_RELAXED);
	}
	b->nobj = 0;
	return b;
}

static void putempty(struct workbuf *b)
{
	gh_lfstack_push(&gh_work.empty, b);
}

static void putfull(struct workbuf *b)
{
	gh_lfstack_push(&gh_work.full, b);
}

static void init(struct gcwork *w)
{
	w->wbuf1 = getempty();
	w->wbuf2 = gh_lfstack_pop(&gh_work.full);
	if (!w->wbuf2)
		w->wbuf2 = getempty();
}

static void swap(struct gcwork *w)
{
	struct workbuf *t = w->wbuf1;
	w->wbuf1 = w->wbuf2;
	w->wbuf2 = t;
}

void gh_gcwork_put(struct gcwork *w, uintptr_t obj)
{
	if (!w->wbuf1)
		init(w);
	if (w->wbuf1->nobj == WORKBUF_OBJS) {
		swap(w);
		if (w->wbuf1->nobj == WORKBUF_OBJS) { /* both full: share one */
			putfull(w->wbuf1);
			w->wbuf1 = getempty();
		}
	}
	w->wbuf1->obj[w->wbuf1->nobj++] = obj;
}

uintptr_t gh_gcwork_tryget(struct gcwork *w)
{
	if (!w->wbuf1)
		init(w);
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
	if (!w->wbuf1)
		return;
	if (w->wbuf2->nobj) {
		putfull(w->wbuf2);
		w->wbuf2 = getempty();
	} else if (w->wbuf1->nobj > 4) { /* hand off half of the first */
		struct workbuf *b = getempty();
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
