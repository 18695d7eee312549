/*
 * qemu.c — the two QEMU devices the test runs use: isa-debug-exit, to end
 * the run with a status the harness reads, and fw_cfg, QEMU's own account of
 * the machine (RAM size, CPU count), which tests compare with what the
 * kernel found through UEFI and ACPI.
 */
#include "cpu.h"
#include "kernel.h"

#define DEBUG_EXIT_PORT 0xf4
#define FWCFG_SELECT 0x510
#define FWCFG_DATA 0x511
enum { FWCFG_SIGNATURE = 0x00, FWCFG_RAM_SIZE = 0x03, FWCFG_NB_CPUS = 0x05 };

void qemu_exit(unsigned code)
{
	outl(DEBUG_EXIT_PORT, code);
	for (;;) { /* not under QEMU, or no isa-debug-exit device */
		irq_disable();
		cpu_halt();
	}
}

/* Read an n-byte little-endian item; false when there is no fw_cfg. */
static bool fwcfg_read(uint16_t key, uint64_t *v, unsigned n)
{
	outw(FWCFG_SELECT, FWCFG_SIGNATURE);
	char sig[4];
	for (int i = 0; i < 4; i++)
		sig[i] = (char)inb(FWCFG_DATA);
	if (sig[0] != 'Q' || sig[1] != 'E' || sig[2] != 'M' || sig[3] != 'U')
		return false;
	outw(FWCFG_SELECT, key);
	*v = 0;
	for (unsigned i = 0; i < n; i++)
		*v |= (uint64_t)inb(FWCFG_DATA) << (8 * i);
	return true;
}

uint64_t fwcfg_ram_size(void)
{
	uint64_t v;
	return fwcfg_read(FWCFG_RAM_SIZE, &v, 8) ? v : 0;
}

unsigned fwcfg_cpu_count(void)
{
	uint64_t v;
	return fwcfg_read(FWCFG_NB_CPUS, &v, 2) ? (unsigned)v : 0;
}
