/*
 * port_inline.h — the hosted port's fast-path functions, inline (see
 * port.h): a thread with a slot of its own finds it in a thread-local
 * variable and has no interrupts to disable.
 */
#ifndef GOHEAP_HOSTED_PORT_INLINE_H
#define GOHEAP_HOSTED_PORT_INLINE_H

extern __thread int gh_hosted_slot
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern unsigned gh_hosted_shared_slot __attribute__((visibility("hidden")));
/* The slow paths keep every register, so that the callers' fast paths need
 * not save any around them. */
#define GH_HOSTED_SLOW                                                                 \
	__attribute__((visibility("hidden"), used, no_caller_saved_registers,            \
		       target("general-regs-only")))
unsigned long gh_hosted_save_slow(void) GH_HOSTED_SLOW;
void gh_hosted_restore_slow(void) GH_HOSTED_SLOW;

/*
 * Call a slow path that keeps every register, hidden from the compiler so
 * that the fast path around it saves none either. Below the red zone, on a
 * 16-byte aligned stack, as the callee's own calls into libc expect.
 */
#define GH_HOSTED_CALL(fn, out)                                                          \
	__asm__ volatile("lea -128(%%rsp), %%rax\n\t"                                      \
			 "and $-16, %%rax\n\t"                                               \
			 "xchg %%rax, %%rsp\n\t"                                             \
			 "push %%rax\n\t"                                                    \
			 "push %%rax\n\t"                                                    \
			 "call " #fn "\n\t"                                                  \
			 "mov 8(%%rsp), %%rsp"                                               \
			 : "=a"(out)                                                         \
			 :                                                                   \
			 : "memory", "cc")

static inline unsigned long gh_port_irq_save(void)
{
	unsigned long cookie = 0;
	if (__builtin_expect(gh_hosted_slot < 0, 0))
		GH_HOSTED_CALL(gh_hosted_save_slow, cookie);
	return cookie;
}

static inline void gh_port_irq_restore(unsigned long cookie)
{
	unsigned long unused;
	if (__builtin_expect(cookie != 0, 0))
		GH_HOSTED_CALL(gh_hosted_restore_slow, unused);
	(void)unused;
}

static inline unsigned gh_port_cpu(void)
{
	int slot = gh_hosted_slot;
	return slot >= 0 ? (unsigned)slot : gh_hosted_shared_slot;
}

#endif
