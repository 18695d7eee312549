/*
 * printk.c — formatted console output, panic and backtraces.
 *
 * Output goes out a line at a time under one lock, so lines from different
 * CPUs never interleave. A panic takes the lock without waiting forever (the
 * CPU that held it may be the one that crashed).
 */
#include <stdarg.h>

#include "cpu.h"
#include "fmt.h"
#include "kernel.h"
#include "spinlock.h"

static struct spinlock console_lock = SPINLOCK_INIT;
static bool percpu_ready; /* GS base set on the boot CPU */

void printk_percpu_ready(void)
{
	percpu_ready = true;
}

void console_write(const char *s, size_t n)
{
	bool was = spin_lock_irqsave(&console_lock);
	serial_write(s, n);
	spin_unlock_irqrestore(&console_lock, was);
}

/* Format a line into the console, after the time and CPU when stamp. */
static void vprint(bool stamp, const char *fmt, va_list ap)
{
	char buf[512];
	int len = 0;
	if (stamp) {
		uint64_t ns = tsc_hz ? time_ns() : 0;
		len = fmt_snprintf(buf, sizeof(buf), "[%4llu.%06llu] cpu%u: ",
				   (unsigned long long)(ns / 1000000000),
				   (unsigned long long)(ns / 1000 % 1000000),
				   percpu_ready ? this_cpu()->index : 0);
	}
	len += fmt_vsnprintf(buf + len, sizeof(buf) - (size_t)len, fmt, ap);
	console_write(buf, len < (int)sizeof(buf) ? (size_t)len : sizeof(buf) - 1);
}

void console_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(false, fmt, ap);
	va_end(ap);
}

void printk(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(true, fmt, ap);
	va_end(ap);
}

void backtrace_frame(uint64_t addr)
{
	char buf[48];
	int n = fmt_snprintf(buf, sizeof(buf), "    [<%p>]\n", (void *)addr);
	console_write(buf, (size_t)n);
}

void backtrace(uint64_t rbp)
{
	/* Frames live on kernel stacks in identity-mapped RAM; stop at anything
	 * that cannot be a frame rather than fault while reporting a fault. */
	for (int depth = 0;
	     depth < 32 && rbp && !(rbp & 7) && mm_is_mapped(rbp) && mm_is_mapped(rbp + 8);
	     depth++) {
		uint64_t ret = ((uint64_t *)rbp)[1];
		if (!ret)
			break;
		backtrace_frame(ret);
		uint64_t next = ((uint64_t *)rbp)[0];
		if (next <= rbp)
			break;
		rbp = next;
	}
}

void panic(const char *fmt, ...)
{
	irq_disable();
	/* Wait a little for the lock, then write regardless. */
	bool locked = false;
	for (int i = 0; i < 1000000 && !(locked = spin_trylock(&console_lock)); i++)
		cpu_relax();
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int len = fmt_snprintf(buf, sizeof(buf),
			       "\nPANIC on cpu%u: ", percpu_ready ? this_cpu()->index : 0);
	len += fmt_vsnprintf(buf + len, sizeof(buf) - (size_t)len, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	serial_write(buf, (size_t)len);
	serial_write("backtrace:\n", 11);
	if (locked)
		spin_unlock(&console_lock);
	backtrace((uint64_t)__builtin_frame_address(0));
	qemu_exit(QEMU_EXIT_PANIC);
}
