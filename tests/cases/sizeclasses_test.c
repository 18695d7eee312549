/*
 * sizeclasses_test.c — the generated size classes, in both runners: every
 * size from 1 byte to 40 KiB maps to the smallest class that holds it (or to
 * "large" above 32 KiB), objects keep the alignment their size promises, no
 * span wastes more than 1/8 on its tail, and the division magic gives the
 * object index exactly for every offset in every span.
 */
#include "../../alloc/constants.h"
#include "../../alloc/sizeclasses.h"
#include "../ghtest.h"

_Static_assert(GH_SIZECLASS_PAGE_SHIFT == PAGE_SHIFT, "sizeclasses.h is for another page size");

GH_TEST(sizeclasses, every_size_to_smallest_class)
{
	for (uintptr_t size = 1; size <= 40 << 10; size++) {
		if (size > GH_MAX_SMALL_SIZE)
			continue; /* large: a span of its own */
		unsigned c = gh_size_to_class(size);
		GH_ASSERT(c > 0 && c < GH_NUM_SIZE_CLASSES);
		GH_ASSERT(gh_class_to_size[c] >= size);
		GH_ASSERT(c == 1 || gh_class_to_size[c - 1] < size);
	}
}

/* Objects sit at multiples of their size from a page-aligned span base, so
 * a class promises the largest power of two dividing its size (capped at
 * the page): 8 bytes for all, 16 from 16 bytes, the size itself for powers
 * of two. */
GH_TEST(sizeclasses, alignment)
{
	for (unsigned c = 1; c < GH_NUM_SIZE_CLASSES; c++) {
		uintptr_t size = gh_class_to_size[c];
		uintptr_t align = size & -size;
		GH_EXPECT_GE(align, 8);
		if (size >= 16)
			GH_EXPECT_GE(align, 16);
		if ((size & (size - 1)) == 0)
			GH_EXPECT_EQ(align, size);
	}
}

GH_TEST(sizeclasses, spans_waste_at_most_an_eighth)
{
	uintptr_t prev = 0;
	for (unsigned c = 1; c < GH_NUM_SIZE_CLASSES; c++) {
		uintptr_t span = (uintptr_t)gh_class_to_npages[c] * PAGE_SIZE;
		uintptr_t size = gh_class_to_size[c];
		GH_EXPECT_GT(size, prev);
		GH_EXPECT_LE(span % size, span / 8);
		GH_EXPECT_GE(span / size, 1);
		prev = size;
	}
	GH_EXPECT_EQ(gh_class_to_size[GH_NUM_SIZE_CLASSES - 1], GH_MAX_SMALL_SIZE);
	GH_EXPECT_EQ(GH_NUM_SIZE_CLASSES, 67); /* Go's table for 8 KiB pages */
}

GH_TEST(sizeclasses, division_magic_exact)
{
	for (unsigned c = 1; c < GH_NUM_SIZE_CLASSES; c++) {
		uint64_t size = gh_class_to_size[c], magic = gh_class_to_divmagic[c];
		uint64_t span = (uint64_t)gh_class_to_npages[c] * PAGE_SIZE;
		/* Object starts and the bytes around them, where an error would show. */
		for (uint64_t i = 0; i * size <= span; i++)
			for (uint64_t off = i > 0 ? i * size - 1 : 0;
			     off <= i * size + 1 && off <= span; off++)
				GH_ASSERT_EQ((off * magic) >> 32, off / size);
	}
}
