/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NUMA placement of a backend's blocks, through libnuma. */
#ifndef GMEM_LIB_PLACEMENT_H
#define GMEM_LIB_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "os.h"

struct placement {
	unsigned int mode;	/* enum gmem_numa_mode */
	int node;		/* GMEM_NUMA_BIND */
	uint64_t nodes;		/* GMEM_NUMA_INTERLEAVE */
};

/* -EINVAL for a bad mode or a node that does not exist, -EOPNOTSUPP for
 * a policy on a system without NUMA support. */
int placement_check(const struct placement *p);
/* Whether node exists and this process may allocate on it. */
bool placement_node_ok(int node);
/*
 * The node a new block asked for on want (-1: none) is placed on, and
 * whether it is bound at all. -EINVAL for a node that does not exist.
 */
int placement_block_node(const struct placement *p, int want, int *node,
		    bool *bind);
/* Binds [addr, addr + len) by the policy (strict, moving what is there):
 * to node where the policy names one node. */
int placement_bind(struct os *os, const struct placement *p, int node,
	      void *addr, size_t len);

#endif
