/*
 * fmt.c — the freestanding printf-style formatter declared in fmt.h: walks the
 * format, parses each conversion into a struct spec and streams the pieces
 * to a callback; fmt_vsnprintf is that callback writing into a buffer.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

/* Widths, precisions and the returned length saturate here (INT_MAX). */
#define FMT_MAX ((size_t)INT32_MAX)

enum length { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J };

/* One conversion's flags, width, precision and length modifier. */
struct spec {
	bool minus, plus, space, hash, zero;
	bool has_prec;
	size_t width;
	size_t prec;
	enum length len;
};

struct sink {
	void (*out)(void *ctx, const char *s, size_t n);
	void *ctx;
	size_t total;
};

static void emit(struct sink *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	s->out(s->ctx, p, n);
	s->total += n;
}

static void pad(struct sink *s, char c, size_t n)
{
	char chunk[16];

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = c;
	for (; n > sizeof(chunk); n -= sizeof(chunk))
		emit(s, chunk, sizeof(chunk));
	emit(s, chunk, n);
}

/* Length of p, but at most max. */
static size_t str_len(const char *p, size_t max)
{
	size_t n = 0;

	while (n < max && p[n] != '\0')
		n++;
	return n;
}

static const char *parse_num(const char *f, size_t *v)
{
	for (*v = 0; *f >= '0' && *f <= '9'; f++)
		*v = *v > FMT_MAX / 10 ? FMT_MAX : *v * 10 + (size_t)(*f - '0');
	return f;
}

static bool parse_flag(struct spec *sp, char c)
{
	switch (c) {
	case '-':
		sp->minus = true;
		return true;
	case '+':
		sp->plus = true;
		return true;
	case ' ':
		sp->space = true;
		return true;
	case '#':
		sp->hash = true;
		return true;
	case '0':
		sp->zero = true;
		return true;
	default:
		return false;
	}
}

static const char *parse_length(const char *f, enum length *len)
{
	switch (*f) {
	case 'h':
		*len = f[1] == 'h' ? LEN_HH : LEN_H;
		return f + (f[1] == 'h' ? 2 : 1);
	case 'l':
		*len = f[1] == 'l' ? LEN_LL : LEN_L;
		return f + (f[1] == 'l' ? 2 : 1);
	case 'z':
		*len = LEN_Z;
		return f + 1;
	case 't':
		*len = LEN_T;
		return f + 1;
	case 'j':
		*len = LEN_J;
		return f + 1;
	default:
		*len = LEN_NONE;
		return f;
	}
}

/* Parses what follows a '%' up to the conversion character, taking '*'
 * arguments from ap; returns the position of the conversion character. */
static const char *parse_spec(const char *f, va_list *ap, struct spec *sp)
{
	/* Field by field: assigning a whole struct may compile to a memset call. */
	sp->minus = sp->plus = sp->space = sp->hash = sp->zero = false;
	while (parse_flag(sp, *f))
		f++;

	if (*f == '*') {
		int w = va_arg(*ap, int);

		/* A negative width is the '-' flag; negate as unsigned, so
		 * INT_MIN works too. */
		sp->minus = sp->minus || w < 0;
		sp->width = w < 0 ? 0 - (size_t)w : (size_t)w;
		f++;
	} else {
		f = parse_num(f, &sp->width);
	}

	sp->has_prec = *f == '.';
	sp->prec = 0;
	if (sp->has_prec) {
		f++;
		if (*f == '*') {
			int p = va_arg(*ap, int);

			/* A negative precision is taken as if omitted. */
			sp->has_prec = p >= 0;
			sp->prec = p >= 0 ? (size_t)p : 0;
			f++;
		} else {
			f = parse_num(f, &sp->prec);
		}
	}
	return parse_length(f, &sp->len);
}

static intmax_t arg_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH:
		return (signed char)va_arg(*ap, int);
	case LEN_H:
		return (short)va_arg(*ap, int);
	case LEN_L:
		return va_arg(*ap, long);
	case LEN_LL:
		return va_arg(*ap, long long);
	case LEN_Z: /* the signed type of size_t's width */
	case LEN_T:
		return va_arg(*ap, ptrdiff_t);
	case LEN_J:
		return va_arg(*ap, intmax_t);
	default:
		return va_arg(*ap, int);
	}
}

static uintmax_t arg_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_HH:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_H:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_L:
		return va_arg(*ap, unsigned long);
	case LEN_LL:
		return va_arg(*ap, unsigned long long);
	case LEN_Z: /* the unsigned type of ptrdiff_t's width */
	case LEN_T:
		return va_arg(*ap, size_t);
	case LEN_J:
		return va_arg(*ap, uintmax_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

/* Prints p[0..n) padded with spaces to the width, on the left unless '-'. */
static void put_padded(struct sink *s, const struct spec *sp, const char *p, size_t n)
{
	size_t fill = sp->width > n ? sp->width - n : 0;

	if (!sp->minus)
		pad(s, ' ', fill);
	emit(s, p, n);
	if (sp->minus)
		pad(s, ' ', fill);
}

/* Prints v in base as prefix (sign or "0x"), zeros up to the precision, the
 * digits, all padded to the width. */
static void put_int(struct sink *s, const struct spec *sp, uintmax_t v, const char *prefix,
		    unsigned base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24]; /* 22 octal digits for 64 bits */
	size_t nd = 0;

	for (; v != 0; v /= base)
		buf[sizeof(buf) - ++nd] = digits[v % base];

	size_t prec = sp->has_prec ? sp->prec : 1;
	size_t zeros = prec > nd ? prec - nd : 0;

	/* '#' with %o: the first digit must be 0. */
	if (base == 8 && sp->hash && zeros == 0)
		zeros = 1;

	size_t plen = str_len(prefix, 2);
	size_t body = plen + zeros + nd;
	size_t fill = sp->width > body ? sp->width - body : 0;

	/* '0' pads with zeros after the prefix, unless '-' or a precision. */
	if (sp->zero && !sp->minus && !sp->has_prec) {
		zeros += fill;
		fill = 0;
	}
	if (!sp->minus)
		pad(s, ' ', fill);
	emit(s, prefix, plen);
	pad(s, '0', zeros);
	emit(s, buf + sizeof(buf) - nd, nd);
	if (sp->minus)
		pad(s, ' ', fill);
}

static void put_signed(struct sink *s, const struct spec *sp, intmax_t v)
{
	/* Negate as unsigned, so INT64_MIN works too. */
	uintmax_t mag = v < 0 ? 0 - (uintmax_t)v : (uintmax_t)v;
	const char *sign = v < 0 ? "-" : sp->plus ? "+" : sp->space ? " " : "";

	put_int(s, sp, mag, sign, 10, false);
}

static void put_hex(struct sink *s, const struct spec *sp, uintmax_t v, bool upper)
{
	const char *prefix = !sp->hash || v == 0 ? "" : upper ? "0X" : "0x";

	put_int(s, sp, v, prefix, 16, upper);
}

/* %p: "0x" and 16 digits always; only the width and '-' apply. */
static void put_pointer(struct sink *s, const struct spec *sp, const void *p)
{
	struct spec ps = {
	    .minus = sp->minus,
	    .width = sp->width,
	    .has_prec = true,
	    .prec = 16,
	};

	put_int(s, &ps, (uintptr_t)p, "0x", 16, false);
}

static void put_string(struct sink *s, const struct spec *sp, const char *p)
{
	if (p == NULL)
		p = "(null)";
	put_padded(s, sp, p, str_len(p, sp->has_prec ? sp->prec : SIZE_MAX));
}

/* Prints one conversion; false when conv is not one we know. */
static bool convert(struct sink *s, const struct spec *sp, char conv, va_list *ap)
{
	char c;

	switch (conv) {
	case 'd':
	case 'i':
		put_signed(s, sp, arg_signed(ap, sp->len));
		return true;
	case 'u':
		put_int(s, sp, arg_unsigned(ap, sp->len), "", 10, false);
		return true;
	case 'o':
		put_int(s, sp, arg_unsigned(ap, sp->len), "", 8, false);
		return true;
	case 'x':
	case 'X':
		put_hex(s, sp, arg_unsigned(ap, sp->len), conv == 'X');
		return true;
	case 'p':
		put_pointer(s, sp, va_arg(*ap, const void *));
		return true;
	case 'c':
		c = (char)va_arg(*ap, int);
		put_padded(s, sp, &c, 1);
		return true;
	case 's':
		put_string(s, sp, va_arg(*ap, const char *));
		return true;
	case '%':
		emit(s, "%", 1);
		return true;
	default:
		return false;
	}
}

int fmt_vformat(void (*out)(void *ctx, const char *s, size_t n), void *ctx, const char *fmt,
		va_list ap)
{
	struct sink s = {.out = out, .ctx = ctx, .total = 0};
	va_list aq;

	va_copy(aq, ap);
	while (*fmt != '\0') {
		const char *pct = fmt;

		while (*pct != '\0' && *pct != '%')
			pct++;
		emit(&s, fmt, (size_t)(pct - fmt));
		if (*pct == '\0')
			break;

		struct spec sp;
		const char *end = parse_spec(pct + 1, &aq, &sp);

		if (*end != '\0' && convert(&s, &sp, *end, &aq)) {
			fmt = end + 1;
			continue;
		}
		/* Unknown or unfinished: print it as written. */
		if (*end != '\0')
			end++;
		emit(&s, pct, (size_t)(end - pct));
		fmt = end;
	}
	va_end(aq);
	return (int)(s.total < FMT_MAX ? s.total : FMT_MAX);
}

/* fmt_vsnprintf's sink: keeps what fits, leaving room for the NUL. */
struct buf {
	char *p;
	size_t size;
	size_t len;
};

static void buf_out(void *ctx, const char *s, size_t n)
{
	struct buf *b = ctx;

	for (; n > 0 && b->len + 1 < b->size; n--)
		b->p[b->len++] = *s++;
}

int fmt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct buf b = {.p = buf, .size = n, .len = 0};
	int total = fmt_vformat(buf_out, &b, fmt, ap);

	if (n > 0)
		buf[b.len] = '\0';
	return total;
}

int fmt_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int total;

	va_start(ap, fmt);
	total = fmt_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return total;
}
