/*
 * storeptr.S — GH_STORE_PTR's store, as a sequence a stop of the world
 * restarts (Linux's restartable sequences work the same way).
 *
 * The store reads gh_wb_enabled and then stores without the barrier when
 * it is off. A stop that falls between the two would let marking start
 * (the snapshot of the stacks taken, the barrier turned on) and then let
 * the store delete a pointer unshaded: another thread that loaded it after
 * the restart would hold an object the collector never marks. Go keeps
 * its barrier's test and store free of preemption points; C code cannot,
 * so the test and the store live here, between gh_store_ptr and
 * gh_store_ptr_done, and a port's stop handler (or any interrupt's entry)
 * that finds the interrupted instruction in that range sends it back to
 * gh_store_ptr (gh_store_restart, goheap.h): the test is made again once
 * the world runs. The barrier's own path, gh_wb_store, tests again with
 * interrupts off.
 *
 *   void gh_store_ptr(void **slot, void *value);   rdi, rsi
 */
	.text
	.globl gh_store_ptr, gh_store_ptr_done
	.type gh_store_ptr, @function
	.p2align 4
gh_store_ptr:
#if defined(__PIC__) && !defined(__PIE__)
	movq gh_wb_enabled@GOTPCREL(%rip), %rax
	cmpb $0, (%rax)
#else
	cmpb $0, gh_wb_enabled(%rip)
#endif
	jne 1f
	movq %rsi, (%rdi)
gh_store_ptr_done:
	ret
1:
#if defined(__PIC__) && !defined(__PIE__)
	jmp gh_wb_store@PLT
#else
	jmp gh_wb_store
#endif
	.size gh_store_ptr, . - gh_store_ptr
	.section .note.GNU-stack, "", @progbits
