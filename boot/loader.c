/*
 * loader.c — goheap's UEFI loader (BOOTX64.EFI, built with GNU-EFI).
 *
 * Reads \goheap\kernel.elf and \goheap\cmdline.txt from the partition it was
 * started from, loads the kernel's PT_LOAD segments at their physical
 * addresses, finds the ACPI RSDP, sets aside a page below 1 MiB for the AP
 * trampoline, exits boot services and jumps to the kernel with a struct
 * gh_bootinfo (boot/bootinfo.h documents the hand-off). Every failure is
 * printed on the firmware console and returned to the firmware.
 */
#include <efi.h>
#include <efilib.h>
#include <elf.h>

#include "bootinfo.h"

#define KERNEL_PATH L"\\goheap\\kernel.elf"
#define CMDLINE_PATH L"\\goheap\\cmdline.txt"
#define CMDLINE_MAX 2048
#define PAGE 4096ull
#define EXIT_TRIES 8 /* a stale map key is retried this many times */

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static EFI_STATUS fail(const CHAR16 *what, EFI_STATUS st)
{
	Print(L"goheap loader: %s: %r\n", what, st);
	return EFI_ERROR(st) ? st : EFI_LOAD_ERROR;
}

static EFI_STATUS alloc_pages_at(uint32_t type, uint64_t addr, uint64_t npages)
{
	EFI_PHYSICAL_ADDRESS a = addr;
	return uefi_call_wrapper(BS->AllocatePages, 4, AllocateAddress, (EFI_MEMORY_TYPE)type,
				 npages, &a);
}

static EFI_STATUS alloc_pages_any(uint32_t type, uint64_t npages, uint64_t *addr)
{
	EFI_PHYSICAL_ADDRESS a = 0;
	EFI_STATUS st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages,
					  (EFI_MEMORY_TYPE)type, npages, &a);
	*addr = a;
	return st;
}

/* Read a whole file into pool memory; *len receives its size. */
static EFI_STATUS read_file(EFI_FILE_HANDLE root, CHAR16 *path, void **data, UINTN *len)
{
	EFI_FILE_HANDLE f;
	EFI_STATUS st = uefi_call_wrapper(root->Open, 5, root, &f, path, EFI_FILE_MODE_READ, 0);
	if (EFI_ERROR(st))
		return st;
	EFI_FILE_INFO *info = LibFileInfo(f);
	if (!info) {
		uefi_call_wrapper(f->Close, 1, f);
		return EFI_DEVICE_ERROR;
	}
	*len = info->FileSize;
	FreePool(info);
	*data = AllocatePool(*len + 1);
	if (!*data)
		st = EFI_OUT_OF_RESOURCES;
	else
		st = uefi_call_wrapper(f->Read, 3, f, len, *data);
	uefi_call_wrapper(f->Close, 1, f);
	return st;
}

/* Load an ELF64 x86-64 executable's segments where their physical addresses
 * say, into GH_MEM_KERNEL pages; returns the entry point. */
static EFI_STATUS load_elf(const uint8_t *img, UINTN len, struct gh_bootinfo *bi, uint64_t *entry)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	if (len < sizeof(*eh) || eh->e_ident[EI_MAG0] != ELFMAG0 ||
	    eh->e_ident[EI_MAG1] != ELFMAG1 || eh->e_ident[EI_MAG2] != ELFMAG2 ||
	    eh->e_ident[EI_MAG3] != ELFMAG3 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * eh->e_phentsize > len)
		return fail(L"kernel.elf is not an x86-64 ELF executable", EFI_LOAD_ERROR);

	uint64_t lo = ~0ull, hi = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
		    (const Elf64_Phdr *)(img + eh->e_phoff + i * eh->e_phentsize);
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		if (ph->p_offset + ph->p_filesz > len || ph->p_filesz > ph->p_memsz)
			return fail(L"kernel.elf has a segment outside the file", EFI_LOAD_ERROR);
		if (ph->p_paddr < lo)
			lo = ph->p_paddr;
		if (ph->p_paddr + ph->p_memsz > hi)
			hi = ph->p_paddr + ph->p_memsz;
	}
	if (hi == 0)
		return fail(L"kernel.elf has nothing to load", EFI_LOAD_ERROR);
	lo &= ~(PAGE - 1);
	hi = (hi + PAGE - 1) & ~(PAGE - 1);
	EFI_STATUS st = alloc_pages_at(GH_MEM_KERNEL, lo, (hi - lo) / PAGE);
	if (EFI_ERROR(st)) {
		Print(L"goheap loader: kernel wants %lx-%lx, which the firmware uses\n", lo, hi);
		return fail(L"cannot place the kernel", st);
	}
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
		    (const Elf64_Phdr *)(img + eh->e_phoff + i * eh->e_phentsize);
		if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
			continue;
		uint8_t *dst = (uint8_t *)(UINTN)ph->p_paddr;
		CopyMem(dst, img + ph->p_offset, ph->p_filesz);
		SetMem(dst + ph->p_filesz, ph->p_memsz - ph->p_filesz, 0);
	}
	bi->kernel_base = lo;
	bi->kernel_end = hi;
	*entry = eh->e_entry;
	return EFI_SUCCESS;
}

/* The RSDP from the configuration table, ACPI 2.0 preferred over 1.0. */
static uint64_t find_rsdp(void)
{
	EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;
	uint64_t v1 = 0;
	for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *ct = &ST->ConfigurationTable[i];
		if (!CompareGuid(&ct->VendorGuid, &acpi20))
			return (uint64_t)(UINTN)ct->VendorTable;
		if (!CompareGuid(&ct->VendorGuid, &acpi10))
			v1 = (uint64_t)(UINTN)ct->VendorTable;
	}
	return v1;
}

/* A free page below 1 MiB whose page number fits a SIPI vector; not page 0. */
static uint64_t reserve_trampoline(void)
{
	for (uint64_t a = 0x8000; a < 0xa0000; a += PAGE)
		if (!EFI_ERROR(alloc_pages_at(GH_MEM_TRAMPOLINE, a, 1)))
			return a;
	return 0;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	InitializeLib(image, systab);
	uint64_t t0 = rdtsc();
	uefi_call_wrapper(BS->SetWatchdogTimer, 4, 0, 0, 0, NULL);
	Print(L"goheap loader: started\n");

	EFI_LOADED_IMAGE *li;
	EFI_STATUS st =
	    uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol, (void **)&li);
	if (EFI_ERROR(st))
		return fail(L"no loaded-image protocol", st);
	EFI_FILE_HANDLE root = LibOpenRoot(li->DeviceHandle);
	if (!root)
		return fail(L"cannot open the boot partition", EFI_NOT_FOUND);

	/* Boot info, then the command line right after it, in one page. */
	uint64_t bi_page;
	st = alloc_pages_any(GH_MEM_BOOTINFO, 1, &bi_page);
	if (EFI_ERROR(st))
		return fail(L"cannot allocate boot info", st);
	struct gh_bootinfo *bi = (struct gh_bootinfo *)(UINTN)bi_page;
	SetMem(bi, PAGE, 0);
	bi->magic = GH_BOOTINFO_MAGIC;
	bi->version = GH_BOOTINFO_VERSION;
	bi->size = sizeof(*bi);
	bi->tsc_loader_start = t0;
	char *cmdline = (char *)(bi + 1);
	bi->cmdline = (uint64_t)(UINTN)cmdline;

	void *file;
	UINTN len;
	if (!EFI_ERROR(read_file(root, CMDLINE_PATH, &file, &len))) {
		UINTN n = len < CMDLINE_MAX - 1 ? len : CMDLINE_MAX - 1;
		CopyMem(cmdline, file, n);
		for (UINTN i = 0; i < n; i++) /* one line: newlines become spaces */
			if (cmdline[i] == '\n' || cmdline[i] == '\r')
				cmdline[i] = ' ';
		while (n > 0 && cmdline[n - 1] == ' ')
			cmdline[--n] = '\0';
		FreePool(file);
	}

	st = read_file(root, KERNEL_PATH, &file, &len);
	if (EFI_ERROR(st))
		return fail(L"cannot read \\goheap\\kernel.elf", st);
	uint64_t entry;
	st = load_elf(file, len, bi, &entry);
	FreePool(file);
	if (EFI_ERROR(st))
		return st;
	bi->tsc_kernel_loaded = rdtsc();

	bi->rsdp = find_rsdp();
	bi->trampoline = reserve_trampoline();
	if (!bi->trampoline)
		return fail(L"no free page below 1 MiB for the AP trampoline",
			    EFI_OUT_OF_RESOURCES);
	Print(
	    L"goheap loader: kernel %lx-%lx entry %lx, rsdp %lx, trampoline %lx, cmdline \"%a\"\n",
	    bi->kernel_base, bi->kernel_end, entry, bi->rsdp, bi->trampoline, cmdline);

	/* The memory map, with room for the descriptors that allocating its own
	 * buffer (and anything the firmware does meanwhile) adds. */
	UINTN map_size = 0, key, desc_size;
	UINT32 desc_version;
	st = uefi_call_wrapper(BS->GetMemoryMap, 5, &map_size, NULL, &key, &desc_size,
			       &desc_version);
	if (st != EFI_BUFFER_TOO_SMALL)
		return fail(L"GetMemoryMap", st);
	UINTN map_cap = map_size + 32 * desc_size;
	uint64_t map_buf;
	st = alloc_pages_any(GH_MEM_BOOTINFO, (map_cap + PAGE - 1) / PAGE, &map_buf);
	if (EFI_ERROR(st))
		return fail(L"cannot allocate the memory map", st);

	/* Nothing may allocate between the last GetMemoryMap and a successful
	 * ExitBootServices; when the key went stale, read the map again. */
	for (bi->exit_tries = 1;; bi->exit_tries++) {
		map_size = map_cap;
		st = uefi_call_wrapper(BS->GetMemoryMap, 5, &map_size,
				       (EFI_MEMORY_DESCRIPTOR *)(UINTN)map_buf, &key, &desc_size,
				       &desc_version);
		if (EFI_ERROR(st))
			return fail(L"GetMemoryMap", st);
		st = uefi_call_wrapper(BS->ExitBootServices, 2, image, key);
		if (!EFI_ERROR(st))
			break;
		if (st != EFI_INVALID_PARAMETER || bi->exit_tries == EXIT_TRIES)
			return fail(L"ExitBootServices", st);
	}

	bi->mmap = map_buf;
	bi->mmap_size = map_size;
	bi->mmap_desc_size = desc_size;
	bi->mmap_desc_version = desc_version;
	bi->tsc_handoff = rdtsc();
	__asm__ volatile("cli");
	((void (*)(struct gh_bootinfo *))(UINTN)entry)(bi);
	for (;;)
		__asm__ volatile("hlt");
}
