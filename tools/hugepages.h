/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reserving hugetlb pages at run time, as root, for a test or benchmark
 * that puts the previous reservation back afterwards.
 */
#ifndef GMEM_TOOLS_HUGEPAGES_H
#define GMEM_TOOLS_HUGEPAGES_H

#include <stdbool.h>
#include <stdio.h>

#define HUGEPAGES_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"

/* A number from a sysfs file; -1 if it cannot be read. */
static inline long hugepages_read(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static inline bool hugepages_write(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok;
}

/*
 * Makes n more 2 MiB pages free; *before receives the reservation to put
 * back with hugepages_restore. False (nothing left changed) if the
 * machine cannot give them.
 */
static inline bool hugepages_reserve(long n, long *before)
{
	*before = hugepages_read(HUGEPAGES_2M "nr_hugepages");
	if (*before < 0)
		return false;
	if (hugepages_write(HUGEPAGES_2M "nr_hugepages", *before + n) &&
	    hugepages_read(HUGEPAGES_2M "free_hugepages") >= n)
		return true;
	hugepages_write(HUGEPAGES_2M "nr_hugepages", *before);
	return false;
}

static inline bool hugepages_restore(long before)
{
	return hugepages_write(HUGEPAGES_2M "nr_hugepages", before);
}

#endif
