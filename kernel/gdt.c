/*
 * gdt.c — each CPU's GDT and TSS. Long mode ignores segmentation except for
 * the code segment's L bit and the TSS, which holds the IST stacks: a double
 * fault, NMI or machine check switches to a known-good stack of its own, so
 * a kernel stack overflow is still reported.
 */
#include "cpu.h"
#include "kernel.h"

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18

void gdt_init(struct percpu *c)
{
	struct tss *tss = &c->tss;
	for (int i = IST_DF; i <= IST_COUNT; i++)
		tss->ist[i - 1] = c->ist_top[i];
	tss->rsp[0] = c->stack_top;
	tss->iomap_base = sizeof(*tss); /* no I/O permission bitmap */

	uint64_t base = (uint64_t)tss, limit = sizeof(*tss) - 1;
	c->gdt[0] = 0;
	c->gdt[1] = 0x00af9a000000ffffull; /* code: present, ring 0, 64-bit */
	c->gdt[2] = 0x00cf92000000ffffull; /* data: present, ring 0, writable */
	c->gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		    (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	c->gdt[4] = base >> 32;

	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr = {sizeof(c->gdt) - 1, (uint64_t)c->gdt};
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\tmovw %w2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movw %%ax, %%fs\n\t"
			 "movw %%ax, %%gs\n\t"
			 "ltr %w3"
			 :
			 : "m"(gdtr), "i"(SEL_CODE), "r"(SEL_DATA), "r"(SEL_TSS)
			 : "rax", "memory");
	/* Loading %gs cleared its base; point it at this CPU's area. */
	wrmsr(MSR_GS_BASE, (uint64_t)c);
}
