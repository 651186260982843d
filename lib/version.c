/*
 * Run-time version query.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "sipflow/version.h"
#include "sipflow_int.h"

static const sipflow_info info = {1, SIPFLOW_VERSION_NUM, SIPFLOW_VERSION};

const sipflow_info *sipflow_version(uint32_t least_version) {
  if (least_version > SIPFLOW_VERSION_NUM)
    return NULL;
  return &info;
}
