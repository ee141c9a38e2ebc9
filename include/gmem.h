/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libgmem: guest memory for VMMs and hypervisors. */
#ifndef GMEM_H
#define GMEM_H

#include <gmem/common.h>
#include <gmem/pool.h>
#include <gmem/guest.h>
#include <gmem/convert.h>
#include <gmem/pin.h>
#include <gmem/page.h>
#include <gmem/notify.h>
#include <gmem/pt.h>
#include <gmem/pt_build.h>
#include <gmem/pt_log.h>
#include <gmem/iommu.h>
#include <gmem/backend.h>
#include <gmem/view.h>

#endif /* GMEM_H */
