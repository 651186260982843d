/*
 * Fuzz target: a Contact header field value from the network, read with
 * sipflow_reg_contact_parse() value by value, given to a registrar, and the
 * answer written with sipflow_reg_answer_format() into a buffer of a size
 * taken from the input. Checks that every string read points inside the
 * value or the parameter buffer, that progress is made, and that a written
 * answer is NUL-terminated at the length reported.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sipflow/registrar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CONTACTS 8

static int inside(sipflow_str s, const char *lo, size_t n) {
  return !s.ptr || (s.ptr >= lo && s.ptr + s.len <= lo + n);
}

static int inside_either(sipflow_str s, const char *a, size_t an, const char *b,
                         size_t bn) {
  return inside(s, a, an) || inside(s, b, bn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char params[MAX_CONTACTS][64];
  sipflow_reg_contact c[MAX_CONTACTS];
  sipflow_reg_request req;
  sipflow_ctx *ctx = NULL;
  sipflow_registrar *reg = NULL;
  const sipflow_reg_result *res = NULL;
  const char *v;
  size_t n = 0, pos = 0, cap;
  char *out;
  if (size < 1)
    return 0;
  cap = (size_t)data[0] * 8 + 1;
  v = (const char *)data + 1;
  size -= 1;
  while (pos < size && n < MAX_CONTACTS) {
    size_t used = 0;
    if (sipflow_reg_contact_parse(v + pos, size - pos, &c[n], params[n],
                                  sizeof(params[n]), &used) != 0)
      break;
    if (used == 0 || used > size - pos ||
        !inside(c[n].uri, v + pos, size - pos) ||
        !inside(c[n].instance, v + pos, size - pos) ||
        !inside(c[n].reg_id, v + pos, size - pos) ||
        !inside(c[n].expires, v + pos, size - pos) ||
        !inside_either(c[n].params, params[n], sizeof(params[n]), v, 0) ||
        (c[n].q != SIPFLOW_REG_Q_NONE && (c[n].q < 0 || c[n].q > 1000)))
      abort();
    pos += used;
    n++;
  }
  if (n == 0 || sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0)
    return 0;
  if (sipflow_registrar_new(&reg, ctx, NULL, NULL, NULL) != 0) {
    sipflow_ctx_del(ctx);
    return 0;
  }
  sipflow_reg_request_default(&req);
  req.aor = (sipflow_str){"sip:fuzz@example.com", 20};
  req.call_id = (sipflow_str){"fuzz-call", 9};
  req.cseq = 1;
  req.contacts = c;
  req.n_contacts = n;
  req.via_count = 1;
  req.flow_id = 1;
  req.supported = SIPFLOW_REG_OPT_OUTBOUND | SIPFLOW_REG_OPT_PATH;
  if (sipflow_registrar_process(reg, &req, SIPFLOW_SECONDS, &res) == 0 && res &&
      (out = malloc(cap)) != NULL) {
    size_t len = (size_t)-1;
    int rv = sipflow_reg_answer_format(res, &req, out, cap, &len);
    if (rv == 0 && (len >= cap || out[len] != '\0' || strlen(out) != len))
      abort();
    if (rv != 0 && (rv != SIPFLOW_ERR_BUFFER_TOO_SMALL || strlen(out) >= cap))
      abort();
    free(out);
  }
  sipflow_registrar_del(reg);
  sipflow_ctx_del(ctx);
  return 0;
}
