/*
 * mgcwork.h — the collector's work lists (Go's mgcwork.go): grey objects
 * waiting to be scanned, kept per CPU in a gcwork of two workbufs and
 * shared through lock-free lists of full and empty workbufs.
 *
 * A CPU puts and takes pointers in its own gcwork with no atomic operation;
 * a workbuf moves to or from the shared lists only when both of its two are
 * full (or empty). Two buffers rather than one keep a CPU that alternates
 * around a buffer boundary from going to the shared lists every time; and
 * balance() hands work to idle CPUs when the shared list is empty (Go's
 * rule: a full second buffer goes to the list, or half of a well-filled
 * first one).
 */
#ifndef GOHEAP_MGCWORK_H
#define GOHEAP_MGCWORK_H

#include "lfstack.h"

/* Go's _WorkbufSize: 2 KiB, 254 pointers. */
#define WORKBUF_BYTES 2048

struct workbuf {
	uint64_t link; /* in gh_work.full or gh_work.empty (lfstack.h) */
	uint64_t nobj;
	uintptr_t obj[(WORKBUF_BYTES - 16) / sizeof(uintptr_t)];
} __attribute__((aligned(64)));

#define WORKBUF_OBJS (sizeof(((struct workbuf *)0)->obj) / sizeof(uintptr_t))

/* The shared lists, and how many workbufs exist (they are never freed). */
struct workpool {
	struct lfstack full, empty;
	uint64_t nbufs;
	uint32_t overflow; /* grey objects were dropped for want of a workbuf */
};
extern struct workpool gh_work;

/* One CPU's work (Go's gcWork): both NULL until first used. Used only by
 * its CPU, with interrupts off. */
struct gcwork {
	struct workbuf *wbuf1, *wbuf2;
	uint64_t bytes_marked; /* this cycle: bytes of the objects this CPU marked */
	uint64_t bytes_black;  /* of which allocated black, not reached by tracing */
	uint64_t scan_work;    /* this cycle: bytes this CPU scanned */
};

void gh_gcwork_put(struct gcwork *w, uintptr_t obj);
/* A pointer to scan, from this CPU's buffers or the shared full list; 0
 * when there is none. */
uintptr_t gh_gcwork_tryget(struct gcwork *w);

/* The same, inline where the first buffer has room (or work): for the
 * drain loop, which puts and takes once per object. */
static inline void gh_gcwork_put_fast(struct gcwork *w, uintptr_t obj)
{
	struct workbuf *b = w->wbuf1;
	if (__builtin_expect(b && b->nobj < WORKBUF_OBJS, 1))
		b->obj[b->nobj++] = obj;
	else
		gh_gcwork_put(w, obj);
}

static inline uintptr_t gh_gcwork_tryget_fast(struct gcwork *w)
{
	struct workbuf *b = w->wbuf1;
	if (__builtin_expect(b && b->nobj, 1))
		return b->obj[--b->nobj];
	return gh_gcwork_tryget(w);
}
/* Share work with other CPUs if this one has enough to spare. */
void gh_gcwork_balance(struct gcwork *w);
/* No work left in w (the shared list may still have some). */
bool gh_gcwork_empty(const struct gcwork *w);
/* Give both buffers back: with work to the full list, without to the
 * empty one. */
void gh_gcwork_dispose(struct gcwork *w);

#endif
