/*
 * mm.c — physical memory before goheap takes over: the UEFI memory map, an
 * early page allocator for the kernel's own structures (page tables, per-CPU
 * areas, stacks), and the kernel's page tables.
 *
 * The page tables identity-map [0, max(4 GiB, end of the highest map entry))
 * with 2 MiB pages, so every RAM range and the MMIO hole below 4 GiB are
 * reachable at their physical address; the first 2 MiB use 4 KiB pages and
 * leave page 0 unmapped, so null pointer dereferences fault. Device pages
 * used by the kernel are remapped uncached with mm_map_mmio.
 *
 * Usable RAM is mapped a second time at HEAP_MAP + its physical address, with
 * 2 MiB pages, and goheap is given that view of its memory (kernel.h says
 * why).
 *
 * Kernel stacks live apart, in STACK_REGION (higher half): each is backed
 * by early pages and has an unmapped guard page below it, so an overflow
 * faults instead of overwriting its neighbour (mm_map_stack).
 *
 * Until the kernel switches to its own page tables, the firmware's are in
 * use and live in boot-services memory, so early_alloc takes only
 * EfiConventionalMemory then; afterwards boot-services and loader memory are
 * free RAM too.
 */
#include "cpu.h"
#include "kernel.h"

#define PAGE_SIZE 4096ull
#define LARGE_PAGE (2 * MiB)
#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull
#define MAX_RANGES 256

struct range {
	uint64_t base, end;
	bool conventional; /* free even while the firmware's page tables are live */
};

static struct range ranges[MAX_RANGES];
static unsigned nranges;
static struct mem_range free_view[MAX_RANGES];
static uint64_t ram_bytes, usable_bytes, max_phys, mapped_end, early_bytes;
static uint64_t *pml4;
static bool own_tables;

static bool usable_type(uint32_t t)
{
	return t == GH_EFI_LOADER_CODE || t == GH_EFI_LOADER_DATA ||
	       t == GH_EFI_BOOT_SERVICES_CODE || t == GH_EFI_BOOT_SERVICES_DATA ||
	       t == GH_EFI_CONVENTIONAL;
}

static void add_range(uint64_t base, uint64_t end, bool conventional)
{
	if (nranges && ranges[nranges - 1].end == base &&
	    ranges[nranges - 1].conventional == conventional) {
		ranges[nranges - 1].end = end;
		return;
	}
	if (nranges == MAX_RANGES)
		panic("memory map has more than %u usable ranges", MAX_RANGES);
	ranges[nranges++] = (struct range){base, end, conventional};
}

static void sort_ranges(void)
{
	for (unsigned i = 1; i < nranges; i++)
		for (unsigned j = i; j > 0 && ranges[j - 1].base > ranges[j].base; j--) {
			struct range r = ranges[j];
			ranges[j] = ranges[j - 1];
			ranges[j - 1] = r;
		}
}

static void read_memory_map(void)
{
	const uint8_t *p = (const uint8_t *)bootinfo->mmap;
	for (uint64_t off = 0; off + bootinfo->mmap_desc_size <= bootinfo->mmap_size;
	     off += bootinfo->mmap_desc_size) {
		const struct gh_efi_memdesc *d = (const void *)(p + off);
		uint64_t base = d->phys_start, end = base + d->npages * PAGE_SIZE;
		if (end > max_phys && d->type != GH_EFI_MMIO && d->type != GH_EFI_MMIO_PORT_SPACE &&
		    d->type != GH_EFI_RESERVED)
			max_phys = end;
		if (d->type >= GH_MEM_KERNEL && d->type <= GH_MEM_TRAMPOLINE)
			ram_bytes += end - base;
		if (!usable_type(d->type))
			continue;
		if (base == 0) /* page 0 stays unmapped and is never handed out */
			base = PAGE_SIZE;
		if (end <= base)
			continue;
		ram_bytes += end - base;
		usable_bytes += end - base;
		add_range(base, end, d->type == GH_EFI_CONVENTIONAL);
	}
	sort_ranges();
}

void *early_alloc(uint64_t bytes)
{
	bytes = ALIGN_UP(bytes, PAGE_SIZE);
	for (unsigned i = nranges; i-- > 0;) {
		struct range *r = &ranges[i];
		if (!own_tables && !r->conventional)
			continue;
		uint64_t top = r->end < 4 * GiB ? r->end : 4 * GiB;
		if (top <= r->base || top - r->base < bytes)
			continue;
		uint64_t p = top - bytes;
		if (top == r->end) {
			r->end = p;
		} else { /* the range straddles 4 GiB: keep what lies above */
			if (nranges == MAX_RANGES)
				panic("early_alloc: too many ranges");
			for (unsigned j = nranges++; j > i + 1; j--)
				ranges[j] = ranges[j - 1];
			ranges[i + 1] = (struct range){top, r->end, r->conventional};
			r->end = p;
		}
		__builtin_memset((void *)p, 0, bytes);
		early_bytes += bytes;
		return (void *)p;
	}
	panic("early_alloc: no %llu bytes left below 4 GiB", (unsigned long long)bytes);
}

static uint64_t *next_table(uint64_t *table, unsigned idx)
{
	if (!(table[idx] & PTE_P))
		table[idx] = (uint64_t)early_alloc(PAGE_SIZE) | PTE_P | PTE_W;
	return (uint64_t *)(table[idx] & PTE_ADDR);
}

static uint64_t *pd_for(uint64_t va)
{
	return next_table(next_table(pml4, (va >> 39) & 511), (va >> 30) & 511);
}

static void map_large(uint64_t va, uint64_t pa, uint64_t flags)
{
	pd_for(va)[(va >> 21) & 511] = pa | PTE_P | PTE_W | PTE_PS | flags;
}

static void map_small(uint64_t va, uint64_t pa, uint64_t flags)
{
	uint64_t *pt = next_table(pd_for(va), (va >> 21) & 511);
	pt[(va >> 12) & 511] = pa | PTE_P | PTE_W | flags;
}

static void build_page_tables(void)
{
	pml4 = early_alloc(PAGE_SIZE);
	mapped_end = ALIGN_UP(max_phys > 4 * GiB ? max_phys : 4 * GiB, LARGE_PAGE);
	for (uint64_t va = PAGE_SIZE; va < LARGE_PAGE; va += PAGE_SIZE)
		map_small(va, va, 0); /* page 0 stays unmapped */
	for (uint64_t va = LARGE_PAGE; va < mapped_end; va += LARGE_PAGE)
		map_large(va, va, 0);
	/* the heap's view: the 2 MiB pages that hold usable RAM */
	for (unsigned i = 0; i < nranges; i++)
		for (uint64_t pa = ALIGN_DOWN(ranges[i].base, LARGE_PAGE); pa < ranges[i].end;
		     pa += LARGE_PAGE)
			map_large(HEAP_MAP + pa, pa, 0);
	write_cr3((uint64_t)pml4);
	own_tables = true;
}

/* Merge neighbours now that the conventional/boot-services split is moot. */
static void merge_ranges(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nranges; i++) {
		if (ranges[i].end <= ranges[i].base)
			continue;
		if (n && ranges[n - 1].end == ranges[i].base)
			ranges[n - 1].end = ranges[i].end;
		else
			ranges[n++] = ranges[i];
	}
	nranges = n;
}

void mm_init(void)
{
	read_memory_map();
	if (!nranges)
		panic("no usable memory in the UEFI memory map");
	build_page_tables();
	merge_ranges();
	printk("memory: %llu MiB usable of %llu MiB RAM, highest address %p, mapped to %p\n",
	       (unsigned long long)(usable_bytes / MiB), (unsigned long long)(ram_bytes / MiB),
	       (void *)max_phys, (void *)mapped_end);
}

void mm_map_mmio(uint64_t phys, uint64_t len)
{
	/* Device registers live in the hole below 4 GiB or above RAM; take their
	 * 2 MiB pages out of the cached map. */
	for (uint64_t va = ALIGN_DOWN(phys, LARGE_PAGE); va < phys + len; va += LARGE_PAGE)
		map_large(va, va, PTE_PCD | PTE_PWT);
	write_cr3((uint64_t)pml4);
}

uint64_t mm_map_stack(uint64_t bytes)
{
	static uint64_t next = STACK_REGION;
	bytes = ALIGN_UP(bytes, PAGE_SIZE);
	uint64_t base = next + PAGE_SIZE; /* the guard page stays unmapped */
	uint64_t pa = (uint64_t)early_alloc(bytes);
	for (uint64_t off = 0; off < bytes; off += PAGE_SIZE)
		map_small(base + off, pa + off, 0);
	next = base + bytes;
	return base + bytes;
}

bool mm_is_mapped(uint64_t va)
{
	if (!pml4)
		return va != 0; /* the firmware's identity map */
	uint64_t *t = pml4;
	for (int shift = 39; shift >= 12; shift -= 9) {
		uint64_t e = t[(va >> shift) & 511];
		if (!(e & PTE_P))
			return false;
		if ((e & PTE_PS) || shift == 12)
			return true;
		t = (uint64_t *)(e & PTE_ADDR);
	}
	return true;
}

const struct mem_range *mm_free_ranges(unsigned *n)
{
	for (unsigned i = 0; i < nranges; i++)
		free_view[i] = (struct mem_range){ranges[i].base, ranges[i].end};
	*n = nranges;
	return free_view;
}

uint64_t mm_ram_bytes(void)
{
	return ram_bytes;
}
uint64_t mm_usable_bytes(void)
{
	return usable_bytes;
}
uint64_t mm_early_bytes(void)
{
	return early_bytes;
}
