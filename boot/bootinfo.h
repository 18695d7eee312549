/*
 * bootinfo.h — what the UEFI loader (boot/loader.c) hands the kernel.
 *
 * The loader reads \goheap\kernel.elf from the ESP it was started from, loads
 * its PT_LOAD segments at their physical addresses, exits boot services and
 * jumps to the ELF entry point with a pointer to struct gh_bootinfo in %rdi,
 * interrupts disabled, on the firmware's identity-mapped page tables (every
 * byte of RAM is addressable at its physical address until the kernel loads
 * its own). The stack is the firmware's; the kernel switches to its own
 * before doing anything else.
 *
 * Memory the loader set aside for the kernel is marked in the memory map with
 * the OS-defined UEFI types below, so the kernel can tell it from free RAM:
 * everything of type LoaderCode/LoaderData/BootServicesCode/BootServicesData/
 * ConventionalMemory is free once the kernel runs; GH_MEM_* ranges are not.
 *
 * All pointers are physical addresses (equal to virtual ones at entry).
 */
#ifndef GOHEAP_BOOT_BOOTINFO_H
#define GOHEAP_BOOT_BOOTINFO_H

#include <stdint.h>

#define GH_BOOTINFO_MAGIC 0x6f666e69746f6f62ull /* "bootinfo" little endian */
#define GH_BOOTINFO_VERSION 1

/* OS-defined memory types (UEFI reserves 0x80000000..0xffffffff for them). */
#define GH_MEM_KERNEL 0x80000000u     /* the kernel image (text, data, bss) */
#define GH_MEM_BOOTINFO 0x80000001u   /* this structure, the memory map, the command line */
#define GH_MEM_TRAMPOLINE 0x80000002u /* the page for the AP start-up code */

/* UEFI memory types the kernel needs by name (UEFI spec, EFI_MEMORY_TYPE). */
enum {
	GH_EFI_RESERVED = 0,
	GH_EFI_LOADER_CODE = 1,
	GH_EFI_LOADER_DATA = 2,
	GH_EFI_BOOT_SERVICES_CODE = 3,
	GH_EFI_BOOT_SERVICES_DATA = 4,
	GH_EFI_RUNTIME_SERVICES_CODE = 5,
	GH_EFI_RUNTIME_SERVICES_DATA = 6,
	GH_EFI_CONVENTIONAL = 7,
	GH_EFI_UNUSABLE = 8,
	GH_EFI_ACPI_RECLAIM = 9,
	GH_EFI_ACPI_NVS = 10,
	GH_EFI_MMIO = 11,
	GH_EFI_MMIO_PORT_SPACE = 12,
	GH_EFI_PAL_CODE = 13,
	GH_EFI_PERSISTENT = 14,
};

/* One UEFI memory descriptor (EFI_MEMORY_DESCRIPTOR). Entries in the map are
 * mmap_desc_size bytes apart, which may exceed sizeof(struct gh_efi_memdesc). */
struct gh_efi_memdesc {
	uint32_t type;
	uint32_t pad;
	uint64_t phys_start;
	uint64_t virt_start;
	uint64_t npages; /* 4 KiB pages */
	uint64_t attribute;
};

struct gh_bootinfo {
	uint64_t magic;	  /* GH_BOOTINFO_MAGIC */
	uint32_t version; /* GH_BOOTINFO_VERSION */
	uint32_t size;	  /* sizeof(struct gh_bootinfo) as the loader saw it */

	/* The memory map as it was when boot services were exited. */
	uint64_t mmap;		 /* physical address of the first descriptor */
	uint64_t mmap_size;	 /* bytes */
	uint64_t mmap_desc_size; /* bytes between descriptors */
	uint32_t mmap_desc_version;
	uint32_t exit_tries; /* ExitBootServices calls needed (map key went stale) */

	uint64_t rsdp;	      /* ACPI RSDP (2.0 preferred), 0 when the firmware has none */
	uint64_t trampoline;  /* a 4 KiB page below 1 MiB for starting APs */
	uint64_t kernel_base; /* physical range of the loaded image */
	uint64_t kernel_end;
	uint64_t cmdline; /* NUL-terminated; from \goheap\cmdline.txt, "" when absent */

	/* TSC readings for the boot timeline: loader entry, kernel file read,
	 * just before the jump to the kernel. */
	uint64_t tsc_loader_start;
	uint64_t tsc_kernel_loaded;
	uint64_t tsc_handoff;
};

#endif
