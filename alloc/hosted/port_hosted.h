/*
 * port_hosted.h — what the hosted port offers beyond port.h, for tests and
 * tools that link libgoheap.a.
 */
#ifndef GOHEAP_PORT_HOSTED_H
#define GOHEAP_PORT_HOSTED_H

#include <stdbool.h>
#include <stddef.h>

/* Called with the message before the hosted port's panic aborts the
 * process; a test harness may unwind from it instead. */
extern void (*gh_hosted_panic_hook)(const char *msg);

/* Reserve more memory when goheap runs out (default true). */
extern bool gh_hosted_grow;

/* The reservation standing in for physical memory (starts goheap). */
void gh_hosted_reservation(void **base, size_t *len);

#endif
