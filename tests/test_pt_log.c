/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty logging against a model.
 *
 * The model keeps, per frame, what the semantics of gmem/pt_log.h are
 * about: logged, written while logging (split), dirty, and the guest's
 * attribute; from them it derives each frame's leaf the slow way (the
 * largest aligned block that is all in the view, uniform where the view
 * goes by attribute, and holds no split frame unless it is the smallest
 * leaf) and its permissions (no write while a logged frame in it is
 * clean). Random starts, stops, write faults (single, and runs that fill
 * whole words of the sets or a piece), marks, conversions and harvests
 * (into a bitmap, or rings smaller and larger than a piece) run on the
 * library and the model together. After each:
 *
 *  - every harvest returned exactly the frames the model says were
 *    dirtied since that frame's last harvest, and errors agree;
 *  - the table (by the public walker) and a mirror kept from the sink's
 *    calls both hold, frame by frame, the model's leaf and permissions:
 *    so no logged clean frame is writable, nothing is split that needs
 *    not be, and after a stop the cover is the minimal one again;
 *  - each batch flushed every leaf that lost access in it.
 *
 * The targeted cases are in test_pt_log_cases.c.
 *
 * GMEM_LOG_OPS: operations per configuration (6000).
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "log_check.h"


struct lcfg {
	enum gmem_pt_arch arch;
	enum gmem_pt_view view;
	unsigned int attr;
	bool nosink;
};

static const struct lcfg lcfgs[] = {
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_ALL, GMEM_ATTR_PRIVATE, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_SHARED, GMEM_ATTR_SHARED, false },
	{ GMEM_PT_X86_4LEVEL, GMEM_PT_VIEW_PRIVATE, GMEM_ATTR_PRIVATE, true },
	{ GMEM_PT_ARM64_4K, GMEM_PT_VIEW_SHARED, GMEM_ATTR_SHARED, false },
};

/* A harvest's ring: none (a bitmap), small, or larger than a piece so
 * that pieces are taken whole until the ring is nearly full. */
static uint32_t harvest_cap(void)
{
	switch (log_rnd() % 4) {
	case 0:
		return (uint32_t)(1 + log_rnd() % 40);
	case 1:
		return (uint32_t)(400 + log_rnd() % 1000);
	default:
		return 0;
	}
}

START_TEST(logging_follows_model)
{
	const struct lcfg *c = &lcfgs[_i];
	uint64_t ops = test_env_u64("GMEM_LOG_OPS", 6000), i, lo, hi;
	bool trace = test_env_u64("GMEM_LOG_TRACE", 0);
	struct log_rig r;

	log_rig_open(&r, c->arch, c->view, 2 * GIB, c->attr, c->nosink);
	log_full_check(&r, c->nosink);
	for (i = 0; i < ops; i++) {
		unsigned int k = (unsigned int)(log_rnd() % 100);

		log_pick(&r, &lo, &hi);
		if (trace)
			fprintf(stderr, "%llu: k %u [%#llx, %#llx)\n",
				(unsigned long long)i, k,
				(unsigned long long)lo, (unsigned long long)hi);
		if (k < 6)
			log_op_start(&r, lo, hi);
		else if (k < 9)
			log_op_stop(&r, lo, hi);
		else if (k < 54)
			log_op_fault(&r, log_pick_frame(&r));
		else if (k < 55)
			log_op_fault_run(&r, log_pick_frame(&r));
		else if (k < 65)
			log_op_mark(&r, lo, hi);
		else if (k < 80)
			log_op_convert(&r, lo, hi, (unsigned int)(log_rnd() % 2));
		else
			log_op_harvest(&r, lo, hi, harvest_cap());
		if (trace || i % 16 == 0 || i + 1 == ops)
			log_full_check(&r, c->nosink);
	}
	/* Logging stopped everywhere: the cover is minimal again. */
	log_op_stop(&r, 0, r.n);
	log_full_check(&r, c->nosink);
	log_rig_close(&r);
}
END_TEST


/*
 * 4 GiB mapped by 1 GiB leaves: starting logging protects the 4 leaves
 * and splits nothing; a fault splits its 1 GiB into 2 MiB pieces and its
 * 2 MiB into 4 KiB ones, and explain says why; a harvest returns the
 * frame and protects it again; stopping joins back the 4 leaves.
 */

static Suite *suite(void)
{
	Suite *s = suite_create("pt_log");
	TCase *tc = tcase_create("differential");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, logging_follows_model, 0,
			    (int)(sizeof(lcfgs) / sizeof(lcfgs[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(suite());
}
