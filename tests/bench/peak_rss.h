/*
 * peak_rss.h — the process's peak resident set, for the hosted benchmark
 * programs: VmHWM from /proc/self/status, else getrusage's ru_maxrss.
 */
#ifndef GOHEAP_BENCH_PEAK_RSS_H
#define GOHEAP_BENCH_PEAK_RSS_H

#include <stdio.h>
#include <sys/resource.h>

static long peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	if (kib < 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		kib = ru.ru_maxrss;
	}
	return kib;
}

#endif
