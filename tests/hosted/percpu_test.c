/*
 * percpu_test.c — hosted only: the per-CPU structures of thread slots no
 * thread has taken stay untouched, out of the process's memory (gh_init
 * sets up only the slots in use; a slot is set up when first taken), and
 * a slot taken later works like the others.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../alloc/include/goheap.h"
#include "../../alloc/mheap.h"
#include "../ghtest.h"

/* Pages wholly inside the structures of CPUs [from, to) that are in the
 * process's memory, and how many there are in all (*pages). */
static unsigned resident_pages(unsigned from, unsigned to, unsigned *pages)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)&gh_mheap.cpus[from] + page - 1) & ~(page - 1);
	uintptr_t hi = (uintptr_t)&gh_mheap.cpus[to] & ~(page - 1);
	*pages = 0;
	if (hi <= lo)
		return 0;
	unsigned char vec[1024];
	size_t n = (hi - lo) / page;
	if (n > sizeof(vec))
		n = sizeof(vec);
	if (mincore((void *)lo, n * page, vec) != 0)
		return ~0u;
	unsigned in = 0;
	for (size_t i = 0; i < n; i++)
		in += vec[i] & 1;
	*pages = (unsigned)n;
	return in;
}

/* A thread that allocates (taking a slot), then waits to be let go. */
struct holder {
	pthread_t id;
	void *got;
	unsigned ready;
};
static unsigned let_go;

static void *hold_a_slot(void *arg)
{
	struct holder *h = arg;
	h->got = gh_malloc(48);
	__atomic_store_n(&h->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&let_go, __ATOMIC_ACQUIRE))
		usleep(1000);
	gh_free(h->got);
	return NULL;
}

GH_TEST(hosted, cpu_slots_never_taken_stay_untouched)
{
	gh_free(gh_malloc(16)); /* goheap started, this thread's slot taken */
	unsigned used = gh_port_ncpu_used(), ncpu = gh_mheap.ncpu, pages;
	if (used + 2 > ncpu)
		GH_SKIP("every thread slot but one was taken");
	unsigned in = resident_pages(used, ncpu, &pages);
	ght_log(t, "%u of the %u pages of the %u slots not taken are resident", in, pages,
		ncpu - used);
	GH_ASSERT(pages > 0);
	GH_EXPECT_EQ(in, 0u);
	struct gh_memstats m;
	gh_read_memstats(&m); /* reads only the slots set up */
	GH_EXPECT_EQ(resident_pages(used, ncpu, &pages), 0u);
}

/* Threads that hold slots at once, until one takes a slot never taken
 * before: it is set up as it is taken, and what they allocate counts. */
GH_TEST(hosted, cpu_slot_taken_later_is_set_up)
{
	enum { MAX_THREADS = 64 };
	static struct holder h[MAX_THREADS];
	struct gh_memstats a, b;
	gh_free(gh_malloc(16));
	unsigned used = gh_port_ncpu_used(), n = 0;
	if (used + 1 > gh_mheap.ncpu)
		GH_SKIP("every thread slot was taken");
	gh_read_memstats(&a);
	__atomic_store_n(&let_go, 0, __ATOMIC_RELAXED);
	while (n < MAX_THREADS && gh_port_ncpu_used() == used) {
		h[n].ready = 0;
		if (pthread_create(&h[n].id, NULL, hold_a_slot, &h[n]) != 0)
			break;
		while (!__atomic_load_n(&h[n].ready, __ATOMIC_ACQUIRE))
			usleep(100);
		n++;
	}
	unsigned now = gh_port_ncpu_used();
	ght_log(t, "%u threads took slots up to %u (from %u)", n, now, used);
	GH_EXPECT_GT(now, used);
	for (unsigned i = 0; i < now && i < gh_mheap.ncpu; i++)
		GH_EXPECT_EQ(__atomic_load_n(&gh_mheap.cpus[i].prepared, __ATOMIC_ACQUIRE),
			     CPU_READY);
	for (unsigned i = 0; i < n; i++)
		GH_EXPECT(h[i].got != NULL);
	__atomic_store_n(&let_go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_join(h[i].id, NULL);
	gh_read_memstats(&b);
	GH_EXPECT_GE(b.Mallocs, a.Mallocs + n);
	GH_EXPECT_GE(b.Frees, a.Frees + n);
}
