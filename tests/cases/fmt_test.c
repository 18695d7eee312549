/*
 * fmt_test.c — kernel/fmt.c, the formatter behind printk and the runners.
 * Where C defines the behaviour, every expected string is what glibc's
 * snprintf prints; %p, a NULL %s and unknown conversions are ours.
 */
#include "../../kernel/fmt.h"
#include "../ghtest.h"

/* Formats into a buffer and checks the text and the returned length; a
 * failure names the format and arguments. */
#define FMT_EXPECT(expected, ...)                                                      \
	do {                                                                           \
		char buf_[128];                                                        \
		int n_ = fmt_snprintf(buf_, sizeof(buf_), __VA_ARGS__);                \
		ght_expect_streq(t, __FILE__, __LINE__, #__VA_ARGS__, buf_, expected); \
		GH_EXPECT_EQ(n_, sizeof(expected) - 1);                                \
	} while (0)

/* The same, for formats the compiler's format check rejects on purpose. */
#define FMT_EXPECT_UNCHECKED(expected, ...)                                            \
	do {                                                                           \
		char buf_[128];                                                        \
		int n_ = unchecked(buf_, sizeof(buf_), __VA_ARGS__);                   \
		ght_expect_streq(t, __FILE__, __LINE__, #__VA_ARGS__, buf_, expected); \
		GH_EXPECT_EQ(n_, sizeof(expected) - 1);                                \
	} while (0)

static int unchecked(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = fmt_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return len;
}

GH_TEST(fmt, decimal)
{
	FMT_EXPECT("plain text", "plain text");
	FMT_EXPECT("0", "%d", 0);
	FMT_EXPECT("42", "%d", 42);
	FMT_EXPECT("-42", "%i", -42);
	FMT_EXPECT("2147483647 -2147483648", "%d %i", INT32_MAX, INT32_MIN);
	FMT_EXPECT("4294967295", "%u", UINT32_MAX);
	FMT_EXPECT("a1b-2c3", "a%db%ic%u", 1, -2, 3u);
}

GH_TEST(fmt, int64_limits)
{
	FMT_EXPECT("-9223372036854775808", "%lld", (long long)INT64_MIN);
	FMT_EXPECT("-9223372036854775808", "%ld", (long)INT64_MIN);
	FMT_EXPECT("-9223372036854775808", "%jd", (intmax_t)INT64_MIN);
	FMT_EXPECT("  -9223372036854775808", "%22lli", (long long)INT64_MIN);
	FMT_EXPECT("+9223372036854775807", "%+lld", (long long)INT64_MAX);
	FMT_EXPECT("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	FMT_EXPECT("ffffffffffffffff", "%llx", (unsigned long long)UINT64_MAX);
	FMT_EXPECT("FFFFFFFFFFFFFFFF", "%lX", (unsigned long)UINT64_MAX);
	FMT_EXPECT("1777777777777777777777", "%llo", (unsigned long long)UINT64_MAX);
}

GH_TEST(fmt, length_modifiers)
{
	FMT_EXPECT("-1 255 -1 65535", "%hhd %hhu %hd %hu", (signed char)-1, (unsigned char)255,
		   (short)-1, (unsigned short)65535);
	/* hh and h convert the int argument to their type first. */
	FMT_EXPECT_UNCHECKED("44 -1 255", "%hhd %hhi %hhu", 300, 255, 511);
	FMT_EXPECT_UNCHECKED("1 -1 65535", "%hd %hi %hu", 65537, 65535, 131071);
	FMT_EXPECT("-3 ffffffff00000000", "%ld %lx", -3L, 0xffffffff00000000ul);
	FMT_EXPECT("18446744073709551615 -5", "%zu %zd", SIZE_MAX, (ptrdiff_t)-5);
	FMT_EXPECT("-7 ff", "%td %tx", (ptrdiff_t)-7, (ptrdiff_t)255);
	FMT_EXPECT("-9 9", "%jd %ju", (intmax_t)-9, (uintmax_t)9);
	/* Each modifier takes an argument of its own size. */
	FMT_EXPECT("1 1099511627776 3 4", "%hhd %lld %d %zu", (signed char)1, 1ll << 40, 3,
		   (size_t)4);
}

GH_TEST(fmt, hex_octal)
{
	FMT_EXPECT("ff FF 377", "%x %X %o", 255u, 255u, 255u);
	FMT_EXPECT("deadbeef", "%x", 0xdeadbeefu);
	FMT_EXPECT("0xff 0XFF 0377", "%#x %#X %#o", 255u, 255u, 255u);
	/* '#' adds no prefix to zero; %#o still prints its 0. */
	FMT_EXPECT("0 0 0 0", "%#x %#o %#.0o %o", 0u, 0u, 0u, 0u);
	FMT_EXPECT("", "%.0x", 0u);
	FMT_EXPECT("0x00ff 0x0000ff    0xff", "%#06x %#.6x %#7x", 255u, 255u, 255u);
	FMT_EXPECT("0012", "%#.4o", 10u);
}

GH_TEST(fmt, sign_flags)
{
	FMT_EXPECT("+5 -5 +0", "%+d %+d %+d", 5, -5, 0);
	FMT_EXPECT(" 5 -5  0", "% d % d % d", 5, -5, 0);
	/* '+' wins over ' '; neither applies to unsigned conversions. */
	FMT_EXPECT_UNCHECKED("+5", "%+ d", 5);
	FMT_EXPECT_UNCHECKED("5 ff", "%+u % x", 5u, 255u);
}

GH_TEST(fmt, width_and_justify)
{
	FMT_EXPECT("   42|42   |42", "%5d|%-5d|%1d", 42, 42, 42);
	FMT_EXPECT("00042 -0042 +0042", "%05d %05d %+05d", 42, -42, 42);
	/* '0' is ignored with '-' and with a precision. */
	FMT_EXPECT_UNCHECKED("-42  |", "%-05d|", -42);
	FMT_EXPECT_UNCHECKED("  042", "%05.3d", 42);
	FMT_EXPECT("  -17 000ab", "%5d %05x", -17, 0xabu);
}

GH_TEST(fmt, precision)
{
	FMT_EXPECT("00042 -00042", "%.5d %.5d", 42, -42);
	FMT_EXPECT("   00042", "%8.5d", 42);
	FMT_EXPECT("42 0", "%.1d %.1d", 42, 0);
	/* Precision 0 prints no digits for zero. */
	FMT_EXPECT("|", "%.0d|", 0);
	FMT_EXPECT("     |+", "%5.0d|%+.0d", 0, 0);
	FMT_EXPECT("+000 0000ff", "%+.3d %.6x", 0, 255u);
}

GH_TEST(fmt, star)
{
	FMT_EXPECT("   42|42   |", "%*d|%-*d|", 5, 42, 5, 42);
	/* A negative '*' width left-justifies. */
	FMT_EXPECT("42   |", "%*d|", -5, 42);
	FMT_EXPECT("00042", "%.*d", 5, 42);
	/* A negative '*' precision counts as none. */
	FMT_EXPECT("42 0", "%.*d %.*d", -1, 42, -3, 0);
	FMT_EXPECT("  abc|", "%*.*s|", 5, 3, "abcdef");
}

GH_TEST(fmt, chars)
{
	char buf[8];

	FMT_EXPECT("x", "%c", 'x');
	FMT_EXPECT("   x|x   |", "%4c|%-4c|", 'x', 'x');
	FMT_EXPECT("%", "%c", '%');

	/* A NUL character is output and counted like any other. */
	GH_EXPECT_EQ(fmt_snprintf(buf, sizeof(buf), "a%cb", '\0'), 3);
	GH_EXPECT_EQ(buf[0], 'a');
	GH_EXPECT_EQ(buf[1], '\0');
	GH_EXPECT_EQ(buf[2], 'b');
	GH_EXPECT_EQ(buf[3], '\0');
}

GH_TEST(fmt, strings)
{
	/* With a precision, the array need not be NUL-terminated. */
	const char abc[3] = {'a', 'b', 'c'};

	FMT_EXPECT("hello", "%s", "hello");
	FMT_EXPECT("   hi|hi   |", "%5s|%-5s|", "hi", "hi");
	FMT_EXPECT("hel|hi|", "%.3s|%.10s|", "hello", "hi");
	FMT_EXPECT("|  hel|ab", "%.0s|%5.3s|%.*s", "hello", "hello", 2, "abc");
	FMT_EXPECT("abc", "%.3s", abc);
	FMT_EXPECT("", "%s", "");
}

GH_TEST(fmt, null_string)
{
	const char *volatile none = NULL;

	FMT_EXPECT("(null)", "%s", none);
	FMT_EXPECT("    (null)|", "%10s|", none);
}

/* Not glibc's "(nil)" and unpadded form: always 0x and 16 digits. */
GH_TEST(fmt, pointer)
{
	FMT_EXPECT("0x0000000000001234", "%p", (void *)0x1234);
	FMT_EXPECT("0x0000000000000000", "%p", (void *)0);
	FMT_EXPECT("0xffffffff80000000", "%p", (void *)0xffffffff80000000ul);
	FMT_EXPECT("  0x0000000000000001|0x0000000000000001  |", "%20p|%-20p|", (void *)1,
		   (void *)1);
}

GH_TEST(fmt, percent_and_unknown)
{
	FMT_EXPECT("100% %", "100%% %%");
	/* Unknown conversions print as written and take no argument. */
	FMT_EXPECT_UNCHECKED("%q", "%q");
	FMT_EXPECT_UNCHECKED("a%-5qb7", "a%-5qb%d", 7);
	FMT_EXPECT_UNCHECKED("%lk 8", "%lk %d", 8);
	/* So does a conversion cut short by the end of the format. */
	FMT_EXPECT_UNCHECKED("abc%", "abc%");
	FMT_EXPECT_UNCHECKED("x%-5.2l", "x%-5.2l");
}

static void fill(char *buf, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = c;
}

GH_TEST(fmt, truncation)
{
	char buf[16];

	/* Output is cut at n - 1 bytes and NUL-terminated; nothing past n
	 * is touched; the full length is returned. */
	fill(buf, sizeof(buf), 'X');
	GH_EXPECT_EQ(fmt_snprintf(buf, 5, "%d", 123456), 6);
	GH_EXPECT_STREQ(buf, "1234");
	GH_EXPECT_EQ(buf[5], 'X');

	GH_EXPECT_EQ(fmt_snprintf(buf, 6, "%s", "hello"), 5);
	GH_EXPECT_STREQ(buf, "hello");
	GH_EXPECT_EQ(fmt_snprintf(buf, 5, "%s", "hello"), 5);
	GH_EXPECT_STREQ(buf, "hell");
	GH_EXPECT_EQ(fmt_snprintf(buf, 4, "%8d", 1), 8);
	GH_EXPECT_STREQ(buf, "   ");
	GH_EXPECT_EQ(fmt_snprintf(buf, 1, "%s", "hello"), 5);
	GH_EXPECT_STREQ(buf, "");

	/* n == 0 writes nothing, not even the NUL. */
	fill(buf, sizeof(buf), 'X');
	GH_EXPECT_EQ(fmt_snprintf(buf, 0, "%s", "hello"), 5);
	GH_EXPECT_EQ(buf[0], 'X');
	GH_EXPECT_EQ(fmt_snprintf(NULL, 0, "%d-%d", 10, 20), 5);
}

/* fmt_vformat's sink for the streaming case: appends what fits. */
struct collect {
	char text[256];
	size_t len;
	unsigned calls;
};

static void collect_out(void *ctx, const char *s, size_t n)
{
	struct collect *c = ctx;

	c->calls++;
	for (; n > 0 && c->len + 1 < sizeof(c->text); n--)
		c->text[c->len++] = *s++;
	c->text[c->len] = '\0';
}

static int stream(struct collect *c, const char *fmt, ...)
{
	va_list ap;
	int len;

	c->len = 0;
	c->calls = 0;
	c->text[0] = '\0';
	va_start(ap, fmt);
	len = fmt_vformat(collect_out, c, fmt, ap);
	va_end(ap);
	return len;
}

GH_TEST(fmt, streaming)
{
	struct collect c;

	GH_EXPECT_EQ(stream(&c, "id=%d name=%s!", 42, "goheap"), 18);
	GH_EXPECT_STREQ(c.text, "id=42 name=goheap!");
	GH_EXPECT_EQ(c.len, 18);
	GH_EXPECT_GT(c.calls, 1);

	/* Padding longer than any internal chunk arrives whole. */
	GH_EXPECT_EQ(stream(&c, "%-200d|", 7), 201);
	GH_EXPECT_EQ(c.len, 201);
	GH_EXPECT_EQ(c.text[0], '7');
	GH_EXPECT_EQ(c.text[199], ' ');
	GH_EXPECT_EQ(c.text[200], '|');

	GH_EXPECT_EQ(stream(&c, ""), 0);
	GH_EXPECT_EQ(c.len, 0);
}
