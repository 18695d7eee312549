/*
 * isr.S — interrupt and exception entry. One 16-byte entry point per vector pushes
 * a zero error code where the CPU pushes none, then the vector number, and
 * jumps to isr_common, which saves the general registers as a struct
 * trap_frame (percpu.h) and calls trap_dispatch(frame).
 *
 * Also here: probe_read64/probe_write64, whose faulting instruction has an
 * entry in the extable section so that trap.c can resume at the fixup.
 */
	.altmacro
	.macro	vector_entry n
	.balign	16
isr_vector_\n:
	.if (\n == 8) || ((\n >= 10) && (\n <= 14)) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
	.else
	pushq	$0
	.endif
	pushq	$\n
	jmp	isr_common
	.endm

	.macro	vector_addr n
	.quad	isr_vector_\n
	.endm

	.text
	.set	i, 0
	.rept	256
	vector_entry %i
	.set	i, i + 1
	.endr

isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	cld
	movq	%rsp, %rdi
	call	trap_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp		/* vector and error code */
	iretq

	.section .rodata
	.balign	8
	.globl	isr_vectors
isr_vectors:
	.set	i, 0
	.rept	256
	vector_addr %i
	.set	i, i + 1
	.endr

	.text
	.globl	probe_read64
probe_read64:				/* bool probe_read64(addr, *val) */
1:	movq	(%rdi), %rax
	movq	%rax, (%rsi)
	movl	$1, %eax
	ret
2:	xorl	%eax, %eax
	ret

	.globl	probe_write64
probe_write64:				/* bool probe_write64(addr, val) */
3:	movq	%rsi, (%rdi)
	movl	$1, %eax
	ret
4:	xorl	%eax, %eax
	ret

	.section extable, "a"
	.quad	1b, 2b
	.quad	3b, 4b

	.section .note.GNU-stack, "", @progbits
