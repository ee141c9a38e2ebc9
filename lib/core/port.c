/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The only system calls of the core: sleeping on a word and waking its
 * sleepers (futex), signalling an eventfd, and advising memory for huge
 * pages. A port to a hypervisor replaces this file.
 */
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "port.h"

void port_wait(_Atomic uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void port_wake_all(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void port_signal(int fd)
{
	uint64_t one = 1;

	/* A full counter (EAGAIN) has woken the reader already. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		return;
}

void port_advise_huge(void *p, size_t len)
{
	/* Advice: a kernel without huge pages keeps the memory small. */
	(void)madvise(p, len, MADV_HUGEPAGE);
}
