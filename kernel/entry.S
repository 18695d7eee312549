/*
 * entry.S — the kernel's first instructions. The loader jumps here with the
 * boot info in %rdi, interrupts off, on the firmware's stack and page tables.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	cli
	cld
	lea	boot_stack_top(%rip), %rsp
	xor	%ebp, %ebp		/* ends frame-pointer backtraces */
	call	kmain
1:	hlt
	jmp	1b

	.bss
	.balign 16
	.globl boot_stack, boot_stack_top
boot_stack:
	.skip	32768
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
