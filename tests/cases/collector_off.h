/*
 * collector_off.h — for cases that use the collector's own structures by
 * hand (marks, work lists): no cycle may run meanwhile, started by their
 * allocation or still running from an earlier case. Give what this returns
 * back to gh_set_gc_percent when done.
 */
#ifndef GOHEAP_TEST_COLLECTOR_OFF_H
#define GOHEAP_TEST_COLLECTOR_OFF_H

#include "../../alloc/include/goheap.h"

static inline int collector_off(void)
{
	int old = gh_set_gc_percent(-1);
	gh_gc(); /* ends one that runs */
	return old;
}

#endif
