/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sleeping, waking, signalling and advice: the core's system calls
 * (port.c). */
#ifndef GMEM_LIB_PORT_H
#define GMEM_LIB_PORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Sleeps while *w is val (or not at all); may return early. */
void port_wait(_Atomic uint32_t *w, uint32_t val);
void port_wake_all(_Atomic uint32_t *w);
/* Adds one to an eventfd's counter; fd < 0: nothing. */
void port_signal(int fd);
/* Asks the kernel to back [p, p + len) by huge pages where it can. */
void port_advise_huge(void *p, size_t len);

#endif
