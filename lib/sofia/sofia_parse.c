/*
 * libsipflow-sofia: parsing with sofia-sip and reading the RFC 5626 header
 * parameters out of a sip_t.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_parser.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

#include "sipflow/sipflow_sofia.h"

#define REG_ID_MAX 2147483647u

int sipflow_sofia_parse(msg_t **pmsg, const uint8_t *data, size_t len) {
  msg_t *msg;
  sip_t *sip;
  if (!pmsg || (!data && len))
    return SIPFLOW_ERR_INVALID_ARGUMENT;
  *pmsg = NULL;
  /* A SIP start line begins with a letter; CRLF keepalives, STUN (first
   * byte 0x00/0x01) and empty datagrams would otherwise come back from sofia
   * as error-flagged messages, or as NULL for len 0. */
  if (len == 0 || !((data[0] >= 'A' && data[0] <= 'Z') ||
                    (data[0] >= 'a' && data[0] <= 'z')))
    return SIPFLOW_ERR_MALFORMED;
  msg = msg_make(sip_default_mclass(), 0, data, (isize_t)len);
  if (!msg)
    return SIPFLOW_ERR_NOMEM;
  sip = sip_object(msg);
  if (msg_has_error(msg) || !sip || sip->sip_error ||
      !(sip->sip_request || sip->sip_status) || !sip->sip_via ||
      !sip->sip_from || !sip->sip_to || !sip->sip_call_id || !sip->sip_cseq) {
    msg_destroy(msg);
    return SIPFLOW_ERR_MALFORMED;
  }
  /* With Vias folded onto one line (RFC 3261 §7.3.1), sofia-sip leaves a
   * parameter without a value just before the comma out of the Via's
   * fields: "...;rport, SIP/2.0/UDP ..." lists rport in v_params but
   * leaves v_rport NULL, and a proxy would then answer without rport
   * (RFC 3581). Recomputing the fields from the parameters mends it. */
  for (sip_via_t *v = sip->sip_via; v; v = v->v_next)
    (void)msg_header_update_params(v->v_common, 0);
  *pmsg = msg;
  return 0;
}

unsigned sipflow_sofia_via_count(const sip_t *sip) {
  unsigned n = 0;
  for (const sip_via_t *v = sip ? sip->sip_via : NULL; v; v = v->v_next)
    n++;
  return n;
}

/* The value after "name=" in a Contact's parameter list, or NULL. */
static const char *param_value(const sip_contact_t *m, const char *name) {
  const char *p;
  if (!m || !m->m_params)
    return NULL;
  p = msg_params_find(m->m_params, name);
  return p;
}

int sipflow_sofia_instance(const sip_contact_t *m, char *buf, size_t buflen,
                           size_t *outlen) {
  const char *v = param_value(m, "+sip.instance");
  size_t n;
  if (!v)
    return SIPFLOW_ERR_NOT_FOUND;
  n = strlen(v);
  /* Phones send "<urn:...>", <urn:...> and bare urn:... alike. */
  if (n >= 2 && v[0] == '"') {
    if (v[n - 1] != '"')
      return SIPFLOW_ERR_MALFORMED;
    v++;
    n -= 2;
  }
  if (n >= 1 && v[0] == '<') {
    if (n < 2 || v[n - 1] != '>')
      return SIPFLOW_ERR_MALFORMED;
    v++;
    n -= 2;
  }
  if (n == 0 || memchr(v, '"', n) || memchr(v, '<', n) || memchr(v, '>', n))
    return SIPFLOW_ERR_MALFORMED;
  if (!buf || n >= buflen)
    return SIPFLOW_ERR_BUFFER_TOO_SMALL;
  memcpy(buf, v, n);
  buf[n] = '\0';
  if (outlen)
    *outlen = n;
  return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out) {
  uint64_t v = 0;
  size_t i;
  if (!s || !*s)
    return SIPFLOW_ERR_MALFORMED;
  for (i = 0; s[i]; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 10)
      return SIPFLOW_ERR_MALFORMED;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > max)
    return SIPFLOW_ERR_MALFORMED;
  *out = (uint32_t)v;
  return 0;
}

int sipflow_sofia_reg_id(const sip_contact_t *m, uint32_t *reg_id) {
  const char *v = param_value(m, "reg-id");
  uint32_t id;
  int rv;
  if (!v)
    return SIPFLOW_ERR_NOT_FOUND;
  rv = parse_u32(v, REG_ID_MAX, &id);
  if (rv != 0 || id == 0)
    return SIPFLOW_ERR_MALFORMED;
  if (reg_id)
    *reg_id = id;
  return 0;
}

int sipflow_sofia_pns_in_front(const sip_t *sip) {
  for (const sip_unknown_t *u = sip ? sip->sip_unknown : NULL; u;
       u = u->un_next)
    if (u->un_name && u->un_value &&
        (strcasecmp(u->un_name, "Feature-Caps") == 0 ||
         strcasecmp(u->un_name, "fc") == 0) &&
        sipflow_reg_feature_caps_pns(u->un_value, strlen(u->un_value)))
      return 1;
  return 0;
}

int sipflow_sofia_flow_timer(const sip_t *sip, uint32_t *seconds) {
  for (const sip_unknown_t *u = sip ? sip->sip_unknown : NULL; u;
       u = u->un_next) {
    if (u->un_name && strcasecmp(u->un_name, "Flow-Timer") == 0) {
      const char *v = u->un_value ? u->un_value : "";
      uint32_t s;
      while (*v == ' ' || *v == '\t')
        v++;
      if (parse_u32(v, UINT32_MAX, &s) != 0)
        return SIPFLOW_ERR_MALFORMED;
      if (seconds)
        *seconds = s;
      return 0;
    }
  }
  return SIPFLOW_ERR_NOT_FOUND;
}
