/*
 * Error codes: messages and names from the one list in common.h.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include "sipflow_int.h"

const char *sipflow_strerror(int err) {
  switch (err) {
  case SIPFLOW_OK:
    return "success";
#define SIPFLOW_ERR_MSG_(name, val, msg)                                       \
  case (val):                                                                  \
    return (msg);
    SIPFLOW_ERRNO_MAP(SIPFLOW_ERR_MSG_)
#undef SIPFLOW_ERR_MSG_
  default:
    return "unknown error";
  }
}

const char *sipflow_err_name(int err) {
  switch (err) {
  case SIPFLOW_OK:
    return "SIPFLOW_OK";
#define SIPFLOW_ERR_NAME_(name, val, msg)                                      \
  case (val):                                                                  \
    return "SIPFLOW_ERR_" #name;
    SIPFLOW_ERRNO_MAP(SIPFLOW_ERR_NAME_)
#undef SIPFLOW_ERR_NAME_
  default:
    return "SIPFLOW_ERR_UNKNOWN";
  }
}

int sipflow_err_is_fatal(int err) { return err <= SIPFLOW_ERR_FATAL; }
