/*
 * scavenge.c — giving free memory back (Go's mgcscavenge.go). Free pages
 * beyond a retained goal are handed to the port (gh_port_release) and
 * marked scavenged in the page allocator's bitmaps, highest addresses first,
 * so that allocation, which is lowest-first, reuses them last.
 *
 * The retained goal is what goheap keeps free and ready: by default a tenth
 * of the bytes in use plus one chunk (Go retains 10% over its heap goal);
 * gh_set_scavenge_goal fixes it instead. The work is bounded: each call of
 * gh_scavenge_work releases at most the pages it is given, and the port calls
 * it from a timer or the idle loop.
 *
 * A run is released without mheap.lock: it is first allocated (so nobody
 * else takes it), released, then freed again with its scavenged bits set.
 * All that with interrupts off, and counted in mheap.releasing: an
 * allocation that finds no pages meanwhile waits for the run to come back
 * rather than fail (gh_mheap_alloc), and no stop of the world can park the
 * CPU that holds it. Runs are at most RELEASE_RUN pages, which bounds how
 * long either waits.
 * Whether released pages read back as zeros is what the port's release
 * says; GH_PAGE_ZERO skips zeroing pages that are known to be zero.
 */
#include "mheap.h"

#define GOAL_DEFAULT (~(uint64_t)0)
#define RELEASE_RUN 64 /* pages: 512 KiB */

static uint64_t free_bytes_retained(void)
{
	struct mheap *h = &gh_mheap;
	uint64_t released = __atomic_load_n(&h->released_pages, __ATOMIC_RELAXED);
	uint64_t free = h->pages.free_pages;
	return (free > released ? free - released : 0) * PAGE_SIZE;
}

static uint64_t goal(void)
{
	struct mheap *h = &gh_mheap;
	uint64_t set = __atomic_load_n(&h->scavenge_goal, __ATOMIC_RELAXED);
	if (set != GOAL_DEFAULT)
		return set;
	uint64_t in_use = (h->pages.managed_pages - gh_free_pages_locked(h)) * PAGE_SIZE;
	return in_use / 10 + CHUNK_BYTES;
}

void gh_set_scavenge_goal(uint64_t bytes)
{
	__atomic_store_n(&gh_mheap.scavenge_goal, bytes, __ATOMIC_RELAXED);
}

/* The free pages retained beyond the goal; mheap.lock held (other CPUs
 * free pages meanwhile). */
static uintptr_t pages_over_goal(void)
{
	uint64_t retained = free_bytes_retained(), g = goal();
	return retained > g ? (uintptr_t)((retained - g + PAGE_SIZE - 1) / PAGE_SIZE) : 0;
}

/* Find and claim the next run below the cursor; mheap.lock held. */
static uintptr_t claim(uintptr_t max, uintptr_t *npages)
{
	struct mheap *h = &gh_mheap;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = h->nranges; i-- > 0;) {
			const struct gh_range *r = &h->ranges[i];
			uintptr_t hi = r->base + r->len;
			if (h->scavenge_cursor && h->scavenge_cursor < hi)
				hi = h->scavenge_cursor;
			if (hi <= r->base)
				continue;
			uintptr_t a =
			    gh_pagealloc_scavenge_candidate(&h->pages, r->base, hi, max, npages);
			if (a) {
				gh_pagealloc_alloc_range(&h->pages, a, *npages);
				h->scavenge_cursor = a;
				return a;
			}
		}
		h->scavenge_cursor = 0; /* reached the bottom: start again from the top */
	}
	return 0;
}

/* Release one run of at most max pages, and (with keep_goal) no more than
 * the goal leaves to release. */
static uintptr_t release_one(uintptr_t max, bool keep_goal)
{
	struct mheap *h = &gh_mheap;
	uintptr_t n = 0, a = 0;
	unsigned long irq = gh_port_irq_save();
	unsigned long cookie = gh_lock(&h->lock);
	uintptr_t over = keep_goal ? pages_over_goal() : max;
	if (over)
		a = claim(over < max ? over : max, &n);
	if (a)
		__atomic_fetch_add(&h->releasing, n, __ATOMIC_RELAXED);
	gh_unlock(&h->lock, cookie);
	if (a) {
		bool zeroes = gh_port_release((void *)a, n * PAGE_SIZE);
		cookie = gh_lock(&h->lock);
		gh_pagealloc_free(&h->pages, a, n);
		gh_mheap_released(a, n);
		if (!zeroes)
			h->release_keeps_data = true;
		__atomic_fetch_sub(&h->releasing, n, __ATOMIC_RELEASE);
		gh_unlock(&h->lock, cookie);
	}
	gh_port_irq_restore(irq);
	return n;
}

/* Release up to max_pages pages, one run at a time; with keep_goal, stop
 * once no more is retained than the goal. */
static uintptr_t release(uintptr_t max_pages, bool keep_goal)
{
	if (!gh_mheap.ready)
		return 0;
	uintptr_t done = 0;
	while (done < max_pages) {
		uintptr_t want = max_pages - done;
		uintptr_t n = release_one(want < RELEASE_RUN ? want : RELEASE_RUN, keep_goal);
		if (!n)
			break;
		done += n;
	}
	return done;
}

unsigned gh_scavenge_work(unsigned max_pages)
{
	return (unsigned)release(max_pages, true);
}

size_t gh_scavenge(size_t bytes)
{
	return release(bytes / PAGE_SIZE + (bytes % PAGE_SIZE != 0), false) * PAGE_SIZE;
}
