/*
 * trap_test.c — deliberate faults are caught with the right vector, error
 * code and CR2, and the kernel goes on.
 */
#include "../../kernel/cpu.h"
#include "../../kernel/kernel.h"
#include "../ghtest.h"

#define PF_PRESENT 1u
#define PF_WRITE 2u

GH_TEST(trap, null_read_page_fault)
{
	struct fault_record *r = &this_cpu()->fault;
	uint64_t before = r->count, v = 0;
	GH_EXPECT(!probe_read64((void *)0x10, &v));
	GH_EXPECT_EQ(r->count, before + 1);
	GH_EXPECT_EQ(r->vector, 14);
	GH_EXPECT_EQ(r->cr2, 0x10);
	GH_EXPECT_EQ(r->error & (PF_PRESENT | PF_WRITE), 0);
}

GH_TEST(trap, unmapped_write_page_fault)
{
	/* 64 TiB: canonical, far above anything the page tables map */
	volatile void *p = (volatile void *)0x0000400000000008ull;
	GH_ASSERT(!mm_is_mapped((uint64_t)p));
	struct fault_record *r = &this_cpu()->fault;
	GH_EXPECT(!probe_write64(p, 42));
	GH_EXPECT_EQ(r->vector, 14);
	GH_EXPECT_EQ(r->cr2, (uint64_t)p);
	GH_EXPECT_EQ(r->error & (PF_PRESENT | PF_WRITE), PF_WRITE);
}

GH_TEST(trap, noncanonical_general_protection)
{
	struct fault_record *r = &this_cpu()->fault;
	uint64_t v;
	GH_EXPECT(!probe_read64((void *)0x8000000000000000ull, &v));
	GH_EXPECT_EQ(r->vector, 13);
}

GH_TEST(trap, mapped_probe_succeeds)
{
	static uint64_t cell = 7;
	uint64_t v = 0, before = this_cpu()->fault.count;
	GH_EXPECT(probe_write64(&cell, 0x1234));
	GH_EXPECT(probe_read64(&cell, &v));
	GH_EXPECT_EQ(v, 0x1234);
	GH_EXPECT_EQ(this_cpu()->fault.count, before);
}

/* Every CPU takes its own faults at once, through its own IDT. */
GH_TEST_PERCPU(trap, page_fault_every_cpu)
{
	uint64_t addr = 0x100 + 8 * t->cpu, v;
	struct fault_record *r = &this_cpu()->fault;
	for (int i = 0; i < 100; i++) {
		GH_ASSERT(!probe_read64((void *)addr, &v));
		GH_ASSERT_EQ(r->cr2, addr);
	}
	GH_EXPECT_EQ(r->vector, 14);
}

/* With an empty IDT every exception escalates: a breakpoint becomes a double
 * fault and then a triple fault, which resets the machine (under QEMU's
 * -no-reboot it powers off) before any result is printed. */
GH_TEST_DEMO(trap, deliberate_triple_fault)
{
	const char *d = ght_option("demo");
	if (!d || d[0] != 't')
		GH_SKIP("only with demo=triple");
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = {0, 0};
	__asm__ volatile("lidt %0; int3" ::"m"(empty));
}
