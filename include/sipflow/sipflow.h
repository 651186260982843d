/*
 * libsipflow: RFC 5626 (SIP Outbound) and NAT keepalive for SIP servers.
 * The umbrella header: include this one.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef SIPFLOW_SIPFLOW_H
#define SIPFLOW_SIPFLOW_H

/**
 * @file sipflow.h
 * The umbrella header: it includes every public header of the core. The
 * adapters' headers (sipflow_uv.h, sipflow_sofia.h) are separate, since they
 * need libuv or sofia-sip. docs/guide.md is the place to start reading.
 */

#include "sipflow/changes.h"
#include "sipflow/common.h"
#include "sipflow/edge.h"
#include "sipflow/flow.h"
#include "sipflow/framer.h"
#include "sipflow/keepalive.h"
#include "sipflow/registrar.h"
#include "sipflow/responder.h"
#include "sipflow/stun.h"
#include "sipflow/token.h"
#include "sipflow/version.h"

#endif /* SIPFLOW_SIPFLOW_H */
