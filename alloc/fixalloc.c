/*
 * fixalloc.c — fixed-size records on a free list (Go's mfixalloc.go), for
 * goheap's own bookkeeping such as span records. Memory comes from
 * persistentalloc in 16 KiB chunks and is never returned; freed records are
 * reused first. Every function runs under mheap.lock.
 */
#include "mheap.h"

void gh_fixalloc_init(struct fixalloc *f, size_t size)
{
	GH_ENSURE(size >= sizeof(void *) && size <= FIXALLOC_CHUNK);
	*f = (struct fixalloc){.size = gh_align_up(size, sizeof(void *)), .zero = true};
}

void *gh_fixalloc_alloc(struct fixalloc *f)
{
	GH_ENSURE(gh_lock_held(&gh_mheap.lock));
	void *p = f->list;
	if (p) {
		f->list = *(void **)p;
		if (f->zero)
			__builtin_memset(p, 0, f->size);
		else
			*(void **)p = NULL;
	} else {
		if (f->nchunk < f->size) {
			void *c = gh_persistentalloc_locked(FIXALLOC_CHUNK, 64);
			if (!c)
				return NULL;
			f->chunk = (uintptr_t)c;
			f->nchunk = FIXALLOC_CHUNK;
			f->sys += FIXALLOC_CHUNK;
		}
		p = (void *)f->chunk;
		f->chunk += f->size;
		f->nchunk -= f->size;
		/* Zero already; written at both ends before anything reads it,
		 * so that fresh memory (a hosted port's) faults in once,
		 * writable, rather than as the zero page and then again. */
		__atomic_store_n((uintptr_t *)p, 0, __ATOMIC_RELAXED);
		__atomic_store_n((uintptr_t *)((uintptr_t)p + f->size) - 1, 0, __ATOMIC_RELAXED);
	}
	f->inuse += f->size;
	return p;
}

void gh_fixalloc_free(struct fixalloc *f, void *p)
{
	*(void **)p = f->list;
	f->list = p;
	f->inuse -= f->size;
}
