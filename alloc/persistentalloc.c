/*
 * persistentalloc.c — metadata that is never freed (Go's persistentalloc in
 * malloc.go): a bump pointer through 256 KiB chunks. Each CPU has a chunk of
 * its own, used with interrupts off; the global chunk is shared under
 * mheap.lock and serves code that already holds that lock (growing the heap,
 * fixalloc). Chunks come from the page heap as MSPAN_META pages; the very
 * first one is carved out of the memory given to gh_init.
 */
#include "mheap.h"

void gh_zero_pages(uintptr_t p, uintptr_t bytes)
{
	for (uintptr_t end = p + bytes; p < end; p += PAGE_SIZE) {
		const uint64_t *w = (const uint64_t *)p;
		for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
			if (w[i]) {
				__builtin_memset((void *)p, 0, PAGE_SIZE);
				break;
			}
	}
}

/* Take from [*off, end) if it fits, honouring the alignment. */
static void *bump(uintptr_t *off, uintptr_t end, size_t size, size_t align)
{
	uintptr_t p = gh_align_up(*off, align);
	if (!*off || p + size > end || p + size < p)
		return NULL;
	*off = p + size;
	return (void *)p;
}

/* A fresh chunk (or a run for a request larger than a chunk) from the page
 * heap; mheap.lock held. */
static uintptr_t chunk_from_heap(size_t bytes)
{
	uintptr_t npages = gh_align_up(bytes, PAGE_SIZE) / PAGE_SIZE, scav;
	uintptr_t p = gh_pagealloc_alloc(&gh_mheap.pages, npages, &scav);
	if (!p)
		return 0;
	gh_mheap_set_meta(p, npages);
	gh_mheap.meta_pages += npages;
	/* Released pages that read as zeros are left untouched: a hosted
	 * port's fresh memory faults in page by page as it is used, not all
	 * at once here (256 KiB: 65 faults, 60 us, in a stop of the world
	 * when the collector's work buffers need a chunk). */
	if (!gh_mheap_took(scav, npages))
		gh_zero_pages(p, npages * PAGE_SIZE);
	return p;
}

/* Serve from the chunk [*off, *end), refilling it from the heap when it is
 * used up; a request over a quarter chunk gets a run of its own instead.
 * mheap.lock held. */
static void *alloc_from(uintptr_t *off, uintptr_t *end, size_t size, size_t align)
{
	GH_ENSURE(align && !(align & (align - 1)));
	void *p = bump(off, *end, size, align);
	if (p)
		return p;
	if (size + align > PERSISTENT_CHUNK / 4) {
		uintptr_t run =
		    chunk_from_heap(gh_align_up(size, PAGE_SIZE) + (align > PAGE_SIZE ? align : 0));
		return run ? (void *)gh_align_up(run, align) : NULL;
	}
	uintptr_t c = chunk_from_heap(PERSISTENT_CHUNK);
	if (!c)
		return NULL;
	*off = c;
	*end = c + PERSISTENT_CHUNK;
	return bump(off, *end, size, align);
}

void *gh_persistentalloc_locked(size_t size, size_t align)
{
	return alloc_from(&gh_mheap.pers_off, &gh_mheap.pers_end, size, align);
}

void *gh_persistentalloc(size_t size, size_t align)
{
	struct mheap *h = &gh_mheap;
	if (!gh_mheap_ready())
		return NULL;
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &h->cpus[gh_port_cpu()];
	void *p = bump(&c->pers_off, c->pers_end, size, align);
	if (!p) {
		unsigned long cookie = gh_lock(&h->lock);
		/* Large requests try the global chunk before a run of their own. */
		p = size + align > PERSISTENT_CHUNK / 4
			? gh_persistentalloc_locked(size, align)
			: alloc_from(&c->pers_off, &c->pers_end, size, align);
		gh_unlock(&h->lock, cookie);
	}
	gh_port_irq_restore(irq);
	return p;
}
