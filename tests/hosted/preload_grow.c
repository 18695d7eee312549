/*
 * preload_grow.c — run under LD_PRELOAD=build/hosted/libgoheap.so with a
 * small first reservation (GOHEAP_HOSTED_MEM=256M): 3 GiB of 1 MiB objects,
 * 100000 small ones and one of 5 GiB must all be served, the heap growing
 * as it goes, and keep their contents. With GOHEAP_HOSTED_MAX below that,
 * malloc must fail cleanly instead (argument "capped": NULL with ENOMEM).
 * Prints "ok" and exits 0, or says what went wrong and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BIG = 3072, SMALL = 100000 };
static char *big[BIG], *small[SMALL];

static int fail(const char *what, int i)
{
	printf("%s (at %d)\n", what, i);
	return 1;
}

int main(int argc, char **argv)
{
	int capped = argc > 1 && strcmp(argv[1], "capped") == 0;
	for (int i = 0; i < BIG; i++) {
		big[i] = malloc(1 << 20);
		if (!big[i]) {
			if (capped && errno == ENOMEM) {
				printf("ok\n");
				return 0;
			}
			return fail("malloc(1 MiB) failed", i);
		}
		big[i][0] = (char)i; /* one byte at each end: the rest stays unbacked */
		big[i][(1 << 20) - 1] = (char)~i;
	}
	if (capped)
		return fail("3 GiB served despite GOHEAP_HOSTED_MAX", BIG);
	for (int i = 0; i < SMALL; i++) {
		small[i] = malloc(100);
		if (!small[i])
			return fail("malloc(100) failed", i);
		memset(small[i], i, 100);
	}
	for (int i = 0; i < BIG; i++)
		if (big[i][0] != (char)i || big[i][(1 << 20) - 1] != (char)~i)
			return fail("a 1 MiB object changed", i);
	for (int i = 0; i < SMALL; i++)
		for (int j = 0; j < 100; j++)
			if (small[i][j] != (char)i)
				return fail("a small object changed", i);
	for (int i = 0; i < SMALL; i++)
		free(small[i]);
	for (int i = 0; i < BIG; i++)
		free(big[i]);
	size_t huge = (size_t)5 << 30;
	char *h = malloc(huge);
	if (!h)
		return fail("malloc(5 GiB) failed", 0);
	h[0] = 1;
	h[huge - 1] = 2;
	free(h);
	printf("ok\n");
	return 0;
}
