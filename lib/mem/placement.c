/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NUMA placement through libnuma. Only calls that never print are used:
 * the library stays silent whatever the system's NUMA state.
 */
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <string.h>

#include <gmem/backend.h>
#include <gmem/pool.h>

#include "placement.h"

#define MASK_WORDS (GMEM_MAX_NODES / (8 * sizeof(unsigned long)))

bool placement_node_ok(int node)
{
	return node >= 0 && node < GMEM_MAX_NODES && numa_available() >= 0 &&
	       node <= numa_max_node() &&
	       numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned int)node);
}

int placement_check(const struct placement *p)
{
	int n;

	switch (p->mode) {
	case GMEM_NUMA_NONE:
		return 0;
	case GMEM_NUMA_BIND:
		if (numa_available() < 0)
			return -EOPNOTSUPP;
		return placement_node_ok(p->node) ? 0 : -EINVAL;
	case GMEM_NUMA_INTERLEAVE:
		if (numa_available() < 0)
			return -EOPNOTSUPP;
		if (!p->nodes)
			return -EINVAL;
		for (n = 0; n < 64; n++)
			if ((p->nodes >> n & 1) && !placement_node_ok(n))
				return -EINVAL;
		return 0;
	case GMEM_NUMA_REGION:
		return numa_available() < 0 ? -EOPNOTSUPP : 0;
	}
	return -EINVAL;
}

int placement_block_node(const struct placement *p, int want, int *node,
		    bool *bind)
{
	*bind = true;
	switch (p->mode) {
	case GMEM_NUMA_BIND:
		*node = p->node;
		return 0;
	case GMEM_NUMA_INTERLEAVE:
		*node = __builtin_ctzll(p->nodes);
		return 0;
	case GMEM_NUMA_REGION:
		if (want >= 0) {
			*node = want;
			return placement_node_ok(want) ? 0 : -EINVAL;
		}
		break;
	}
	*node = 0;
	*bind = false;
	return 0;
}

int placement_bind(struct os *os, const struct placement *p, int node,
	      void *addr, size_t len)
{
	unsigned long mask[MASK_WORDS];
	const unsigned int bits = 8 * sizeof(unsigned long);
	int mode = MPOL_BIND;

	memset(mask, 0, sizeof(mask));
	if (p->mode == GMEM_NUMA_INTERLEAVE) {
		mode = MPOL_INTERLEAVE;
		for (unsigned int n = 0; n < 64; n++)
			if (p->nodes >> n & 1)
				mask[n / bits] |= 1UL << (n % bits);
	} else {
		mask[node / bits] |= 1UL << (node % bits);
	}
	/* mbind reads maxnode - 1 bits. */
	return os_mbind(os, addr, len, mode, mask, GMEM_MAX_NODES + 1,
			MPOL_MF_STRICT | MPOL_MF_MOVE);
}
