/*
 * trampoline.S — where an application processor starts. smp.c copies this
 * code to a page P below 1 MiB (the loader reserved it), fills in the
 * parameters at its end and sends INIT-SIPI-SIPI with vector P >> 12. The AP
 * starts in real mode at P:0, loads the trampoline's GDT, goes through
 * 32-bit protected mode into long mode on the kernel's page tables (CR3 is
 * loaded from 32-bit code, so the PML4 must lie below 4 GiB) and calls
 * ap_entry(percpu) on its own stack. The code refers to itself only by
 * offsets from its start plus the base it computes from CS, so it runs at
 * whatever page it was copied to.
 */
#define OFF(sym) ((sym) - trampoline_start)

	.section .rodata.trampoline, "a"
	.globl	trampoline_start, trampoline_end
	.globl	tr_gdtr_base, tr_pm_ptr, tr_lm_ptr, tr_cr3, tr_stack, tr_percpu, tr_entry

	.code16
trampoline_start:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	movzwl	%ax, %ebx
	shll	$4, %ebx		/* %ebx = P, kept to the end */
	lgdtl	OFF(tr_gdtr)
	movl	%cr0, %eax
	orl	$1, %eax		/* PE */
	movl	%eax, %cr0
	ljmpl	*OFF(tr_pm_ptr)

	.code32
tr_pm:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	OFF(tr_cr3)(%ebx), %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	/* EFER */
	rdmsr
	orl	$0x100, %eax		/* LME */
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmpl	*OFF(tr_lm_ptr)(%ebx)

	.code64
tr_lm:
	movq	OFF(tr_stack)(%rbx), %rsp
	movq	OFF(tr_percpu)(%rbx), %rdi
	movq	OFF(tr_entry)(%rbx), %rax
	xorl	%ebp, %ebp
	pushq	$0			/* a zero return address ends backtraces */
	jmpq	*%rax

	.balign	8
tr_gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
	.quad	0x00cf9a000000ffff	/* 0x18: 32-bit code */
tr_gdtr:
	.word	4 * 8 - 1
tr_gdtr_base:
	.long	0			/* P + OFF(tr_gdt) */
	.balign	8
tr_pm_ptr:
	.long	0			/* P + OFF(tr_pm) */
	.word	0x18
	.balign	8
tr_lm_ptr:
	.long	0			/* P + OFF(tr_lm) */
	.word	0x08
	.balign	8
tr_cr3:
	.quad	0
tr_stack:
	.quad	0
tr_percpu:
	.quad	0
tr_entry:
	.quad	0
trampoline_end:

	.globl	tr_off_gdt, tr_off_pm, tr_off_lm
	.set	tr_off_gdt, OFF(tr_gdt)
	.set	tr_off_pm, OFF(tr_pm)
	.set	tr_off_lm, OFF(tr_lm)

	.section .note.GNU-stack, "", @progbits
