/*
 * port_hosted.h — what the hosted port offers beyond port.h, for tests and
 * tools that link libgoheap.a.
 *
 * Collected objects (gh_new) in the hosted port: the collector stops and
 * scans the threads that have called goheap, from their first call to
 * their exit. A thread that holds pointers to collected objects (on its
 * stack, in its registers) must have called goheap at least once, and
 * must not block SIGPWR, the signal that stops it. The world is stopped
 * with signals: a stopped thread may be inside libc, so from
 * gh_port_stop_world to gh_port_start_world the stopping thread takes no
 * lock that other code may hold (no malloc from the C library, no stdio),
 * and blocking calls of the other threads that SA_RESTART does not
 * restart (nanosleep, poll, sem_wait...) may return EINTR. alloc/hosted/port.c
 * describes the protocol.
 */
#ifndef GOHEAP_PORT_HOSTED_H
#define GOHEAP_PORT_HOSTED_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Boehm's GC_do_blocking: call fn(arg) with this thread out of the
 * collector's way, for a call that may block (a join, a read, a wait). A
 * stop neither signals this thread nor waits for it meanwhile; its stack,
 * as it stood at the call (registers included), is scanned for roots. fn
 * must not touch collected objects or call goheap: what it holds is not
 * seen by the collector. If fn returns while the world is stopped, the
 * thread waits for the restart. Not to be called from inside goheap
 * (a finalizer, a hook).
 */
void *gh_hosted_do_blocking(void *(*fn)(void *), void *arg);

/* Called with the message before the hosted port's panic aborts the
 * process; a test harness may unwind from it instead. */
extern void (*gh_hosted_panic_hook)(const char *msg);

/* Reserve more memory when goheap runs out (default true). */
extern bool gh_hosted_grow;

/* The reservation standing in for physical memory (starts goheap). */
void gh_hosted_reservation(void **base, size_t *len);

#endif
