/*
 * mgcmark.h — marking (Go's mgcmark.go, mbitmap.go's findObject): from any
 * pointer, possibly into the middle of an object, to the object and its
 * mark bit, set once, with the object queued for scanning.
 *
 * This is how conservative roots (stacks, registers, registered ranges)
 * enter the mark phase: a word that looks like a pointer is looked up in
 * the arena index, and only a pointer into a live object marks anything.
 */
#ifndef GOHEAP_MGCMARK_H
#define GOHEAP_MGCMARK_H

#include "mgcwork.h"
#include "mspan.h"

/* The start of the live object that p points into (at its start or
 * inside), with its span and object index; 0 when p points into no live
 * object: not goheap's memory, a free slot, a span's tail, a page run,
 * metadata. Lock-free. */
uintptr_t gh_find_object(uintptr_t p, struct mspan **sp, uint32_t *idxp);

/* Mark the object p points into and queue it on w for scanning, if it is
 * live and not marked yet; true when this call marked it. Any number of
 * CPUs may race to mark the same object: one wins. */
bool gh_greyobject(struct gcwork *w, uintptr_t p);

/* Scan [base, base + len) conservatively (Go's scanblock without a
 * pointer mask): every aligned word that points into a live object greys
 * it. For roots: stacks, saved registers, registered ranges. Returns the
 * objects this call marked. */
unsigned gh_scan_conservative(struct gcwork *w, uintptr_t base, size_t len);

/* Clear a span's marks (the start of a mark phase; the collector's sweep
 * will reuse the bits). */
void gh_span_clear_marks(struct mspan *s);
/* Whether the object at idx of s is marked. */
bool gh_span_marked(const struct mspan *s, uint32_t idx);

#endif
