/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reserving hugetlb pages at run time, as root, for a test or benchmark
 * that puts the previous reservation back afterwards.
 */
#ifndef GMEM_TOOLS_HUGEPAGES_H
#define GMEM_TOOLS_HUGEPAGES_H

#include <stdbool.h>
#include <stdio.h>

#define HUGEPAGES_DIR "/sys/kernel/mm/hugepages/hugepages-"

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

static inline const char *hugepages_file(unsigned long page_kib,
					  const char *name, char *buf,
					  size_t n)
{
	snprintf(buf, n, HUGEPAGES_DIR "%lukB/%s", page_kib, name);
	return buf;
}

/*
 * Makes n more pages of page_kib KiB free; *before receives the
 * reservation to put back with hugepages_restore. False (nothing left
 * changed) if the machine cannot give them.
 */
static inline bool hugepages_reserve(unsigned long page_kib, long n,
				     long *before)
{
	char nr[128], fr[128];

	hugepages_file(page_kib, "nr_hugepages", nr, sizeof(nr));
	hugepages_file(page_kib, "free_hugepages", fr, sizeof(fr));
	*before = hugepages_read(nr);
	if (*before < 0)
		return false;
	if (hugepages_write(nr, *before + n) && hugepages_read(fr) >= n)
		return true;
	hugepages_write(nr, *before);
	return false;
}

static inline bool hugepages_restore(unsigned long page_kib, long before)
{
	char nr[128];

	return hugepages_write(hugepages_file(page_kib, "nr_hugepages", nr,
					      sizeof(nr)), before);
}

#endif
