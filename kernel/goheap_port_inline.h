/*
 * goheap_port_inline.h — the reference kernel's fast-path port functions,
 * inline into goheap (alloc/port.h, GH_PORT_INLINE_H): the CPU index is one
 * %gs-relative load, interrupts are pushf/cli and sti.
 */
#ifndef KERNEL_GOHEAP_PORT_INLINE_H
#define KERNEL_GOHEAP_PORT_INLINE_H

#include "cpu.h"
#include "percpu.h"

static inline unsigned gh_port_cpu(void)
{
	return this_cpu()->index;
}

static inline unsigned long gh_port_irq_save(void)
{
	return irq_save();
}

static inline void gh_port_irq_restore(unsigned long cookie)
{
	irq_restore(cookie != 0);
}

#endif
