/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzing harness: the differential driver of diff.c with its choices
 * taken from the input, 4 bytes each; the first byte picks the layout.
 * Any mismatch with the model aborts.
 *
 * Built with clang and GMEM_FUZZ=ON it is a libFuzzer target, the
 * library instrumented with it (tests/fuzz_check.sh, which CTest runs
 * from the seeds in tests/fuzz_corpus, one per layout):
 *     CC=clang cmake -S . -B fuzz -DGMEM_FUZZ=ON
 *     cmake --build fuzz --target fuzz_diff && fuzz/tests/fuzz_diff
 * Otherwise main() below runs it on the files named, or on N random
 * inputs (fuzz_diff --random N [--seed S]): CTest does that too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

struct bytes {
	const uint8_t *p;
	size_t n, at;
};

static uint64_t take(void *ctx)
{
	struct bytes *b = ctx;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v |= (uint64_t)(b->at < b->n ? b->p[b->at++] : 0) << (8 * i);
	return v;
}

static bool used_up(void *ctx)
{
	const struct bytes *b = ctx;

	return b->at >= b->n;
}

static void fail_abort(const char *msg)
{
	fprintf(stderr, "fuzz_diff: %s\n", msg);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes b = { data, size, 1 };
	struct diff_source src = { take, used_up, &b };

	if (!size)
		return 0;
	diff_fail = fail_abort;
	diff_run(data[0] % diff_nlayouts, UINT64_MAX, &src);
	return 0;
}

#ifndef GMEM_LIBFUZZER
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	static uint8_t buf[1 << 20];
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return LLVMFuzzerTestOneInput(buf, n);
}

static uint64_t rng = 1;

static uint8_t rnd_byte(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint8_t)((rng * UINT64_C(2685821657736338717)) >> 56);
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	unsigned long runs = 0, files = 0, r;
	size_t i, n;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--random") && a + 1 < argc)
			runs = strtoul(argv[++a], NULL, 0);
		else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
			rng = strtoull(argv[++a], NULL, 0) | 1;
		else if (run_file(argv[a]))
			return 1;
		else
			files++;
	}
	/* Random inputs of random lengths: short and long operation runs. */
	for (r = 0; r < runs; r++) {
		n = 1 + (size_t)rnd_byte() * (1 + rnd_byte() % 64);
		for (i = 0; i < n && i < sizeof(buf); i++)
			buf[i] = rnd_byte();
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("fuzz_diff: %lu random inputs, %lu files: no mismatch\n", runs,
	       files);
	return 0;
}
#endif
