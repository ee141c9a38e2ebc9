/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Operating-system hooks for tests: the system calls underneath, every
 * call counted by kind, and the Nth call from arming made to fail with a
 * chosen errno (a failed close still releases its descriptor, as
 * Linux's does).
 */
#ifndef GMEM_TEST_OS_INJECT_H
#define GMEM_TEST_OS_INJECT_H

#include <stdbool.h>
#include <stdint.h>

#include <gmem.h>

enum inject_kind {
	INJ_MMAP, INJ_MUNMAP, INJ_MPROTECT, INJ_MADVISE, INJ_FALLOCATE,
	INJ_FTRUNCATE, INJ_MBIND, INJ_IOCTL, INJ_MEMFD_CREATE, INJ_OPEN,
	INJ_PREAD, INJ_UNLINK, INJ_CLOSE, INJ_NKINDS
};

struct os_inject {
	struct gmem_os_ops ops;		/* pass this to the backend */
	struct gmem_os_ops sys;		/* the defaults underneath */
	uint64_t calls;			/* all kinds, since init */
	uint64_t by_kind[INJ_NKINDS];
	uint64_t fail_at;		/* 1-based call since arming; 0: never */
	uint64_t armed_calls;
	int err;			/* positive errno to fail with */
	bool sticky;			/* fail every call from fail_at on */
	int failed;			/* calls failed so far */
	/* Called before every call, when set: a test looks at the library
	 * from inside an operation's system calls. */
	void (*watch)(void *arg, enum inject_kind kind);
	void *watch_arg;
};

void os_inject_init(struct os_inject *in);
/* The nth call from now fails with -err; n == 0 disarms. */
void os_inject_arm(struct os_inject *in, uint64_t n, int err);
/* Every call from the nth on fails. */
void os_inject_arm_from(struct os_inject *in, uint64_t n, int err);

#endif
