/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the guest calls of the range listeners (lib/range_listener.c). */
#ifndef GMEM_LIB_RANGE_LISTENER_H
#define GMEM_LIB_RANGE_LISTENER_H

struct gmem_guest;

/* Frees the range listeners of a guest being destroyed. */
void range_hub_free(struct gmem_guest *g);

#endif
