/*
 * fmt.h — printf-style formatting without libc, for printk and the test
 * runners (kernel and Linux user space alike).
 *
 * Conversions: %d %i %u %x %X %o %c %s %p %%. Flags: - 0 + space #. Width and
 * precision, either may be '*'. Length modifiers: hh h l ll z t j. As in C,
 * except: %p prints "0x" and 16 hex digits, a NULL %s prints "(null)", and an
 * unknown conversion is printed as written ("%q" stays "%q") without taking an
 * argument. No floating point.
 */
#ifndef GOHEAP_KERNEL_FMT_H
#define GOHEAP_KERNEL_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Like C's vsnprintf: writes at most n bytes including the NUL (nothing when
 * n == 0), returns the length the full output would have. */
int fmt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int fmt_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Streaming form: calls out(ctx, s, len) for pieces of output; returns total
 * length. */
int fmt_vformat(void (*out)(void *ctx, const char *s, size_t n), void *ctx, const char *fmt,
		va_list ap);

#endif
