/*
 * mem_test.c — the kernel sees the memory QEMU was given, maps all of it
 * (again at HEAP_MAP, for goheap), and its free ranges stay clear of what
 * the loader set aside.
 */
#include "../../alloc/include/goheap.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

/* OVMF keeps a few MiB for itself (ACPI tables and NVS, runtime services,
 * its own reserved pages); more than this means pages went missing. */
#define FIRMWARE_ALLOWANCE (48 * MiB)

GH_TEST(mem, ram_matches_qemu)
{
	uint64_t given = fwcfg_ram_size();
	if (!given)
		GH_SKIP("not under QEMU: no fw_cfg");
	uint64_t ram = mm_ram_bytes(), usable = mm_usable_bytes();
	ght_log(t, "QEMU was given %llu MiB; the map has %llu MiB RAM, %llu MiB usable",
		(unsigned long long)(given / MiB), (unsigned long long)(ram / MiB),
		(unsigned long long)(usable / MiB));
	GH_EXPECT_LE(ram, given);
	GH_EXPECT_LE(usable, ram);
	GH_EXPECT_GE(usable + FIRMWARE_ALLOWANCE, given);
}

static bool overlaps(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}

GH_TEST(mem, free_ranges_sane)
{
	unsigned n;
	const struct mem_range *r = mm_free_ranges(&n);
	GH_ASSERT(n > 0);
	uint64_t bi = (uint64_t)bootinfo;
	for (unsigned i = 0; i < n; i++) {
		GH_EXPECT_EQ(r[i].base & 4095, 0);
		GH_EXPECT_EQ(r[i].end & 4095, 0);
		GH_EXPECT_LT(r[i].base, r[i].end);
		if (i)
			GH_EXPECT_LT(r[i - 1].end, r[i].base); /* sorted, merged */
		GH_EXPECT(
		    !overlaps(r[i].base, r[i].end, bootinfo->kernel_base, bootinfo->kernel_end));
		GH_EXPECT(!overlaps(r[i].base, r[i].end, bi, bi + 4096));
		GH_EXPECT(!overlaps(r[i].base, r[i].end, bootinfo->trampoline,
				    bootinfo->trampoline + 4096));
		GH_EXPECT(!overlaps(r[i].base, r[i].end, bootinfo->mmap,
				    bootinfo->mmap + bootinfo->mmap_size));
	}
}

/* The first and last page of every free range is mapped and writable,
 * including RAM above 4 GiB. */
GH_TEST(mem, every_range_mapped)
{
	unsigned n;
	const struct mem_range *r = mm_free_ranges(&n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t ends[2] = {r[i].base, r[i].end - 8};
		for (int k = 0; k < 2; k++) {
			uint64_t v = 0;
			GH_EXPECT(probe_write64((void *)ends[k], 0x600dcafe ^ ends[k]));
			GH_EXPECT(probe_read64((void *)ends[k], &v));
			GH_EXPECT_EQ(v, 0x600dcafe ^ ends[k]);
		}
	}
	ght_log(t, "%u free ranges, highest ends at %p", n, (void *)r[n - 1].end);
}

/* Every usable byte the firmware reported (page 0 aside, which is never
 * used) is accounted for: the kernel's early allocations and the free
 * ranges; and every whole 8 KiB page of the free ranges above
 * GOHEAP_LOW_LIMIT is either managed by goheap or holds its metadata. */
GH_TEST(mem, goheap_manages_all_free_memory)
{
	unsigned n;
	const struct mem_range *r = mm_free_ranges(&n);
	uint64_t free_bytes = 0, whole_pages = 0, low_bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		free_bytes += r[i].end - r[i].base;
		/* goheap's: above GOHEAP_LOW_LIMIT */
		uint64_t b = ALIGN_UP(r[i].base > GOHEAP_LOW_LIMIT ? r[i].base : GOHEAP_LOW_LIMIT,
				      GH_PAGE_SIZE),
			 e = ALIGN_DOWN(r[i].end, GH_PAGE_SIZE);
		whole_pages += e > b ? e - b : 0;
		low_bytes += r[i].base < GOHEAP_LOW_LIMIT
				 ? (r[i].end < GOHEAP_LOW_LIMIT ? r[i].end : GOHEAP_LOW_LIMIT) - r[i].base
				 : 0;
	}
	GH_EXPECT_EQ(free_bytes + mm_early_bytes(), mm_usable_bytes());
	struct gh_page_stats st;
	gh_page_stats(&st);
	GH_EXPECT_EQ(st.managed + st.reserved, whole_pages);
	GH_EXPECT_LE(free_bytes - low_bytes - whole_pages, (uint64_t)n * GH_PAGE_SIZE); /* 4 KiB edges */
	/* What goheap needs to manage the memory, at most 0.5%: measured at boot,
	 * before test cases took metadata of their own (per-CPU chunks...). */
	GH_EXPECT_LE(goheap_boot_stats.metadata * 200, goheap_boot_stats.managed);
	ght_log(
	    t,
	    "usable %llu KiB = free %llu + kernel %llu; goheap manages %llu KiB, "
	    "metadata %llu KiB at boot (%llu.%03llu%%), %llu KiB now, %llu KiB lost to 8 KiB "
	    "rounding",
	    (unsigned long long)(mm_usable_bytes() >> 10), (unsigned long long)(free_bytes >> 10),
	    (unsigned long long)(mm_early_bytes() >> 10), (unsigned long long)(st.managed >> 10),
	    (unsigned long long)(goheap_boot_stats.metadata >> 10),
	    (unsigned long long)(goheap_boot_stats.metadata * 100 / goheap_boot_stats.managed),
	    (unsigned long long)(goheap_boot_stats.metadata * 100000 / goheap_boot_stats.managed %
				 1000),
	    (unsigned long long)(st.metadata >> 10),
	    (unsigned long long)((free_bytes - whole_pages) >> 10));
}

/* goheap hands out memory in its view at HEAP_MAP, the same RAM as the
 * identity map holds at HEAP_MAP less: no small number on a stack can be
 * taken for a pointer into the heap. Both ends of every free range above
 * GOHEAP_LOW_LIMIT are mapped there too. */
GH_TEST(mem, goheap_memory_in_the_heap_map)
{
	size_t sizes[] = {16, 4096, 1 << 20};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		volatile uint64_t *p = gh_malloc(sizes[i]);
		GH_ASSERT(p != NULL);
		uint64_t a = (uint64_t)p;
		GH_EXPECT_GE(a, HEAP_MAP + GOHEAP_LOW_LIMIT);
		volatile uint64_t *phys = (volatile uint64_t *)(a - HEAP_MAP);
		*p = 0x600dcafe ^ a;
		GH_EXPECT_EQ(*phys, 0x600dcafe ^ a);
		*phys = ~a;
		GH_EXPECT_EQ(*p, ~a);
		gh_free((void *)p);
	}
	unsigned n;
	const struct mem_range *r = mm_free_ranges(&n);
	for (unsigned i = 0; i < n; i++)
		if (r[i].end > GOHEAP_LOW_LIMIT) {
			GH_EXPECT(mm_is_mapped(HEAP_MAP + r[i].end - 8));
			GH_EXPECT(mm_is_mapped(HEAP_MAP + (r[i].base > GOHEAP_LOW_LIMIT
							       ? r[i].base
							       : GOHEAP_LOW_LIMIT)));
		}
}
