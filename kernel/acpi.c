/*
 * acpi.c — the few ACPI tables the kernel reads: the MADT (which CPUs exist
 * and their local APIC IDs), the FADT (the PM timer's I/O port) and the HPET
 * table. Tables are found from the RSDP through the XSDT (or the RSDT on
 * ACPI 1.0 firmware) and checked against their checksums.
 */
#include "kernel.h"

struct acpi_info acpi;

struct sdt_header {
	char sig[4];
	uint32_t length;
	uint8_t revision, checksum;
	char oem[6], oem_table[8];
	uint32_t oem_revision, creator, creator_revision;
} __attribute__((packed));

struct rsdp {
	char sig[8];
	uint8_t checksum;
	char oem[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t xchecksum, reserved[3];
} __attribute__((packed));

static bool checksum_ok(const void *p, uint32_t len)
{
	uint8_t sum = 0;
	for (uint32_t i = 0; i < len; i++)
		sum += ((const uint8_t *)p)[i];
	return sum == 0;
}

static bool sig_is(const char *a, const char *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static const struct sdt_header *find_table(const char *sig)
{
	const struct rsdp *r = (const struct rsdp *)bootinfo->rsdp;
	bool x = r->revision >= 2 && r->xsdt;
	const struct sdt_header *root =
	    (const struct sdt_header *)(x ? r->xsdt : (uint64_t)r->rsdt);
	unsigned width = x ? 8 : 4;
	unsigned n = (root->length - sizeof(*root)) / width;
	const uint8_t *entries = (const uint8_t *)(root + 1);
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = 0;
		__builtin_memcpy(&a, entries + i * width, width);
		const struct sdt_header *h = (const struct sdt_header *)a;
		if (h && sig_is(h->sig, sig, 4)) {
			if (!checksum_ok(h, h->length))
				panic("ACPI table %.4s at %p has a bad checksum", sig, (void *)h);
			return h;
		}
	}
	return NULL;
}

static void parse_madt(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h;
	acpi.lapic_phys = *(const uint32_t *)(p + 36);
	for (uint32_t off = 44; off + 2 <= h->length && p[off + 1] >= 2; off += p[off + 1]) {
		const uint8_t *e = p + off;
		if (e[0] == 0) { /* processor local APIC: acpi id, apic id, flags */
			uint32_t flags = *(const uint32_t *)(e + 4);
			if (!(flags & 3)) /* neither enabled nor online-capable */
				continue;
			if (acpi.ncpus == MAX_CPUS) {
				printk("acpi: more than %u CPUs; using the first %u\n", MAX_CPUS,
				       MAX_CPUS);
				continue;
			}
			acpi.apic_ids[acpi.ncpus++] = e[3];
		} else if (e[0] == 5) { /* local APIC address override */
			acpi.lapic_phys = *(const uint64_t *)(e + 4);
		}
	}
}

static void parse_fadt(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h;
	uint32_t port = *(const uint32_t *)(p + 76);
	uint32_t flags = h->length >= 116 ? *(const uint32_t *)(p + 112) : 0;
	if (h->length >= 220 && p[208] == 1 /* system I/O */) {
		uint64_t x = *(const uint64_t *)(p + 212);
		if (x)
			port = (uint32_t)x;
	}
	acpi.pm_timer_port = (uint16_t)port;
	acpi.pm_timer_32bit = flags & (1u << 8); /* TMR_VAL_EXT */
}

void acpi_init(void)
{
	const struct rsdp *r = (const struct rsdp *)bootinfo->rsdp;
	if (!r || !sig_is(r->sig, "RSD PTR ", 8) || !checksum_ok(r, 20))
		panic("no valid ACPI RSDP (loader said %p)", (void *)r);
	const struct sdt_header *madt = find_table("APIC");
	if (!madt)
		panic("ACPI has no MADT: cannot find the CPUs");
	parse_madt(madt);
	const struct sdt_header *fadt = find_table("FACP");
	if (fadt)
		parse_fadt(fadt);
	const struct sdt_header *hpet = find_table("HPET");
	if (hpet)
		acpi.hpet_phys = *(const uint64_t *)((const uint8_t *)hpet + 44);
	printk("acpi: %u CPUs, local APIC at %p, PM timer port 0x%x (%s), HPET at %p\n", acpi.ncpus,
	       (void *)acpi.lapic_phys, acpi.pm_timer_port,
	       acpi.pm_timer_32bit ? "32-bit" : "24-bit", (void *)acpi.hpet_phys);
}
