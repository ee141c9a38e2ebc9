/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every options and result struct of the public headers ends with its
 * last field (core/opts.h): checked when the library is built, so that
 * a field added into tail padding, which an older library would read
 * past without a word, cannot happen.
 */
#include <gmem.h>

#include "opts.h"

OPTS_NO_TAIL(gmem_os_ops);
OPTS_NO_TAIL(gmem_backend_opts);
OPTS_NO_TAIL(gmem_block_info);
OPTS_NO_TAIL(gmem_backend_stats);
OPTS_NO_TAIL(gmem_alloc_ops);
OPTS_NO_TAIL(gmem_convert_opts);
OPTS_NO_TAIL(gmem_listener_opts);
OPTS_NO_TAIL(gmem_guest_opts);
OPTS_NO_TAIL(gmem_region_opts);
OPTS_NO_TAIL(gmem_guest_stats);
OPTS_NO_TAIL(gmem_range_listener_ops);
OPTS_NO_TAIL(gmem_range_listener_opts);
OPTS_NO_TAIL(gmem_notifier_opts);
OPTS_NO_TAIL(gmem_page_opts);
OPTS_NO_TAIL(gmem_pager_opts);
OPTS_NO_TAIL(gmem_lookup);
OPTS_NO_TAIL(gmem_pin_opts);
OPTS_NO_TAIL(gmem_pool_opts);
OPTS_NO_TAIL(gmem_pool_add_info);
OPTS_NO_TAIL(gmem_pool_alloc_opts);
OPTS_NO_TAIL(gmem_pool_stats);
OPTS_NO_TAIL(gmem_pt_geometry);
OPTS_NO_TAIL(gmem_pt_cover_opts);
OPTS_NO_TAIL(gmem_pt_explain);
OPTS_NO_TAIL(gmem_pt_page_ops);
OPTS_NO_TAIL(gmem_pt_sink);
OPTS_NO_TAIL(gmem_pt_opts);
OPTS_NO_TAIL(gmem_pt_walker);
OPTS_NO_TAIL(gmem_pt_stats);
OPTS_NO_TAIL(gmem_pt_harvest);
OPTS_NO_TAIL(gmem_pt_log_stats);
OPTS_NO_TAIL(gmem_view_opts);
OPTS_NO_TAIL(gmem_view_stats);
OPTS_NO_TAIL(gmem_kvm_fault);
