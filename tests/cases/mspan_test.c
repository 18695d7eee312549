/*
 * mspan_test.c — the span ownership protocol of alloc/mspan.h, step by step
 * on one CPU, in both runners: a full span that no CPU owns becomes partial
 * when an object is freed into it from afar, goes back to the page heap
 * when its last object goes (a zombie while it still sits in mcentral's
 * set), and leaves the set when a CPU pops it.
 */
#include "../../alloc/mspan.h"
#include "../ghtest.h"

/* A remote free, as gh_free does it on a CPU that does not own the span
 * and cannot take it over. */
static const char *free_remote(void *p)
{
	struct mspan *s = gh_span_of((uintptr_t)p);
	unsigned spc = s->spanclass;
	unsigned long irq = gh_port_irq_save();
	struct gh_cpu *c = &gh_mheap.cpus[gh_port_cpu()];
	const char *why =
	    gh_span_free_remote(c, s, span_obj_index(s, (uintptr_t)p), (uintptr_t)p);
	if (!why)
		gh_stat_add(&c->mcache.nfree[spc], 1);
	gh_port_irq_restore(irq);
	return why;
}

GH_TEST(mspan, full_partial_zombie_retired)
{
	enum { SIZE = 2048, MAX = 64 }; /* 4 objects to a one-page span */
	void *objs[MAX];
	unsigned n = 0, in_s = 0;
	gh_cache_flush();
	objs[n++] = gh_malloc(SIZE);
	GH_ASSERT(objs[0] != NULL);
	struct mspan *s = gh_span_of((uintptr_t)objs[0]);
	/* Fill s: once an object comes from elsewhere, this CPU gave s up. */
	while (n < MAX) {
		objs[n] = gh_malloc(SIZE);
		GH_ASSERT(objs[n] != NULL);
		if (gh_span_of((uintptr_t)objs[n++]) != s)
			break;
	}
	for (unsigned i = 0; i < n; i++)
		in_s += gh_span_of((uintptr_t)objs[i]) == s;
	GH_ASSERT_EQ(in_s, s->nelems); /* the heap held nothing else of this class */
	GH_ASSERT_EQ(span_owner_kind(s), OWN_FULL);

	/* A free from afar into the full span: it becomes partial, in the set. */
	GH_ASSERT(free_remote(objs[0]) == NULL);
	GH_EXPECT_EQ(span_owner_kind(s), OWN_PARTIAL);
	GH_EXPECT(gh_lfstack_first(&gh_mheap.central[s->spanclass].partial) == s);
	GH_EXPECT_EQ(gh_heap_check(), 0);
	/* A second free of the same object is caught on the remote path too. */
	GH_EXPECT(free_remote(objs[0]) != NULL);

	/* The rest from afar: its pages go back; the record stays in the set. */
	uint64_t seq = __atomic_load_n(&s->owner, __ATOMIC_RELAXED) >> 16;
	for (unsigned i = 1; i < n; i++)
		if (gh_span_of((uintptr_t)objs[i]) == s)
			GH_ASSERT(free_remote(objs[i]) == NULL);
	GH_EXPECT_EQ(span_owner_kind(s), OWN_ZOMBIE);
	GH_EXPECT_GT(__atomic_load_n(&s->owner, __ATOMIC_RELAXED) >> 16, seq);
	GH_EXPECT(gh_span_of((uintptr_t)objs[0]) != s); /* the page left the span */
	GH_EXPECT_EQ(gh_heap_check(), 0);

	/* The next CPU to look in the set retires the record. */
	unsigned spc = s->spanclass;
	unsigned long irq = gh_port_irq_save();
	unsigned cpu = gh_port_cpu();
	struct mspan *popped = gh_span_pop_partial(&gh_mheap.cpus[cpu], spc, cpu);
	if (popped)
		gh_span_release(&gh_mheap.cpus[cpu], popped);
	gh_port_irq_restore(irq);
	GH_EXPECT(popped != s);
	GH_EXPECT_EQ(span_owner_kind(s), OWN_NONE);
	GH_EXPECT(gh_lfstack_first(&gh_mheap.central[spc].partial) != s);

	gh_free(objs[n - 1]); /* the one object from another span */
	GH_EXPECT_EQ(gh_heap_check(), 0);
}
