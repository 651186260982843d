/*
 * Fuzz target: the change-record decoder, and applying what it accepts to a
 * registrar, a key ring and a keepalive scheduler, as a restore or another
 * node's records would.
 *
 * Beyond "no crash": every answer is a documented one, an accepted record
 * encodes back to the very same bytes (one spelling per record), and the
 * registrar's invariants hold after each apply.
 */
#include <stdlib.h>
#include <string.h>

#include "registrar_int.h"
#include "sipflow/changes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNIX_NOW 1700000100ull
#define NOW (1000 * SIPFLOW_SECONDS)

static int send_nothing(sipflow_keepalive *ka, sipflow_flow_id flow,
                        const sipflow_keepalive_probe *probe, void *ud,
                        void *eud) {
  (void)ka, (void)flow, (void)probe, (void)ud, (void)eud;
  return 0;
}

static void check_encode(const uint8_t *data, size_t size,
                         const sipflow_change *c) {
  uint8_t *again = malloc(size ? size : 1);
  size_t len = 0;
  if (!again)
    abort();
  if (sipflow_change_encode(c, again, size, &len) != 0 || len != size ||
      memcmp(again, data, size) != 0)
    abort();
  free(again);
}

static void apply(const sipflow_change *c) {
  sipflow_ctx *ctx;
  sipflow_registrar *reg;
  sipflow_keyring *kr;
  sipflow_keepalive *ka;
  sipflow_keepalive_callbacks kcb = {send_nothing, NULL, NULL, NULL};
  int rv;
  if (sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0 ||
      sipflow_ctx_handle_expiry(ctx, NOW) != 0 ||
      sipflow_registrar_new(&reg, ctx, NULL, NULL, NULL) != 0 ||
      sipflow_keyring_new(&kr, ctx) != 0 ||
      sipflow_keepalive_new(&ka, ctx, &kcb, NULL, NULL) != 0)
    abort();
  switch (c->kind) {
  case SIPFLOW_CHANGE_BINDING:
    /* Twice: the second must not change anything or fail differently. */
    for (int i = 0; i < 2; i++) {
      rv = sipflow_change_apply_binding(reg, c, UNIX_NOW, NOW);
      if (rv != 0 && rv != SIPFLOW_ERR_STALE && rv != SIPFLOW_ERR_MALFORMED &&
          rv != SIPFLOW_ERR_LIMIT)
        abort();
      if (sipflow__registrar_check(reg) != 0)
        abort();
    }
    if (sipflow_registrar_binding_count(reg) > 1)
      abort();
    break;
  case SIPFLOW_CHANGE_ENDPOINT:
    (void)sipflow_change_apply_endpoint(ka, c, UNIX_NOW, NOW);
    break;
  case SIPFLOW_CHANGE_KEY:
    rv = sipflow_change_apply_key(kr, c);
    if (c->op == SIPFLOW_CHANGE_PUT &&
        (rv != 0 || !sipflow_keyring_has(kr, c->u.key.key_id)))
      abort();
    break;
  default:
    abort();
  }
  sipflow_keepalive_del(ka);
  sipflow_keyring_del(kr);
  sipflow_registrar_del(reg);
  sipflow_ctx_del(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sipflow_change c;
  int rv = sipflow_change_decode(data, size, &c);
  if (rv == SIPFLOW_ERR_MALFORMED || rv == SIPFLOW_ERR_UNSUPPORTED)
    return 0;
  if (rv != 0)
    abort();
  check_encode(data, size, &c);
  apply(&c);
  return 0;
}
