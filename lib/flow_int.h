/*
 * Flow table internals for white-box tests. Never installed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_FLOW_INT_H
#define SIPFLOW_FLOW_INT_H

#include "sipflow/flow.h"
#include "sipflow_int.h"

/*
 * Set the generation of the free slot |slot| (1-based), so that tests can
 * reach generation exhaustion without 2^32 connections. Returns
 * SIPFLOW_ERR_NOT_FOUND if the slot does not exist or is live.
 */
int sipflow__flow_table_set_generation(sipflow_flow_table *ft, uint32_t slot,
                                       uint32_t generation);

#endif /* SIPFLOW_FLOW_INT_H */
