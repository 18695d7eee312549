/*
 * percpu.h — each CPU's private area, reached through the GS base: %gs:0
 * holds the area's own address, so this_cpu() is one load. Every CPU has its
 * own stack, GDT, TSS (with IST stacks for double fault, NMI and machine
 * check) and IDT, all inside or next to this area.
 */
#ifndef GOHEAP_KERNEL_PERCPU_H
#define GOHEAP_KERNEL_PERCPU_H

#include <stdbool.h>
#include <stdint.h>

#define MAX_CPUS 64
#define KSTACK_SIZE (32 * 1024)
#define IST_STACK_SIZE (16 * 1024)
enum { IST_DF = 1, IST_NMI = 2, IST_MC = 3, IST_COUNT = 3 };

/* What the interrupt entry points (isr.S) push: general registers, vector and error code,
 * then the CPU's interrupt frame. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct idt_gate {
	uint16_t offset_lo, selector;
	uint8_t ist, type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi, zero;
};

/* The last fault that a probe (probe_read64/probe_write64) caught. */
struct fault_record {
	uint64_t vector, error, cr2, rip;
	uint64_t count;
};

/* A cross-CPU call request (smp.c). It lives on the caller's stack, which
 * waits for "done", and is queued on the target CPU's call list. */
struct smp_call {
	void (*fn)(void *);
	void *arg;
	struct smp_call *next;
	volatile uint32_t done;
};

struct percpu {
	struct percpu *self; /* must stay first: this_cpu() reads %gs:0 */
	unsigned index;	     /* 0 = the bootstrap CPU */
	uint32_t apic_id;
	uint64_t stack_top;
	volatile bool idle;	 /* in the idle loop: posted calls run there */
	volatile uint64_t ticks; /* LAPIC timer interrupts taken */
	volatile uint64_t nmis;
	volatile uint64_t nmi_rsp; /* stack pointer seen by the last NMI */
	struct fault_record fault;
	struct smp_call *calls;		 /* pushed lock-free by callers, taken whole */
	uint64_t last_call_tick;	 /* ticks when this CPU last ran posted calls */
	bool goheap_flushed;		 /* goheap's caches given back since then */
	bool gc_marking;		 /* in gh_gc_background: no nested slice (goheap_port.c) */
	bool gc_deferred;		 /* its last slice left the mark to assists: idle halts */
	volatile uint64_t stop_ack;	 /* the stop (stw_seq) this CPU last parked for (stw.c) */
	volatile uint64_t stop_sp;	 /* where a scan of its stack starts while parked (stw.c) */
	uint64_t ist_top[IST_COUNT + 1]; /* [IST_DF..IST_MC] */
	struct tss tss;
	uint64_t gdt[7];
	struct idt_gate idt[256];
};

static inline struct percpu *this_cpu(void)
{
	struct percpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

#endif
