/*
 * sipflow-proxy: an RFC 5626 Outbound edge proxy, registrar, or both in one
 * process, over UDP and TCP, on libuv and sofia-sip, built on libsipflow.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include <sipflow/keepalive.h>

#include "proxy.h"

static px the_proxy;

/* ---- the key ring file: "<id> <64 hex digits>" per line -------------------
 */

static int load_keys(px *p, const char *path) {
  FILE *f = fopen(path, "r");
  char line[256];
  int n = 0, last = -1;
  if (!f)
    return errno == ENOENT ? 0 : -1;
  while (fgets(line, sizeof(line), f)) {
    unsigned id;
    char hex[129];
    uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
    size_t klen;
    if (sscanf(line, "%u %128s", &id, hex) != 2 || id > 255 ||
        sodium_hex2bin(key, sizeof(key), hex, strlen(hex), NULL, &klen, NULL) !=
            0 ||
        klen != sizeof(key) ||
        sipflow_keyring_add(p->keyring, (uint8_t)id, key, klen) != 0) {
      fclose(f);
      fprintf(stderr, "sipflow-proxy: %s: bad key line\n", path);
      return -1;
    }
    if (p->n_own_keys < 8) {
      p->own_keys[p->n_own_keys].id = (uint8_t)id;
      memcpy(p->own_keys[p->n_own_keys].key, key, sizeof(key));
      p->n_own_keys++;
    }
    sodium_memzero(key, sizeof(key));
    last = (int)id;
    n++;
  }
  fclose(f);
  if (last >= 0)
    sipflow_keyring_set_current(p->keyring, (uint8_t)last);
  return n;
}

/* A fresh key gets a random id, not a fixed one: after a restart without
 * --token-key or --state, tokens minted under the last run's key then name
 * an id that is not in the ring and get 430 (their flow is gone, the
 * registrar fails over), not a MAC failure under a reused id and 403
 * (docs/tokens.md). Ids are one byte, so 1 restart in 255 draws the same
 * id again; only a stored key ring rules that out. */
static int create_key(px *p, const char *path) {
  uint8_t key[SIPFLOW_TOKEN_KEY_LEN];
  char hex[2 * SIPFLOW_TOKEN_KEY_LEN + 1];
  uint8_t id = (uint8_t)(1 + randombytes_uniform(255));
  if (sipflow_token_key_generate(key, sizeof(key)) != 0 ||
      sipflow_keyring_add(p->keyring, id, key, sizeof(key)) != 0 ||
      sipflow_keyring_set_current(p->keyring, id) != 0)
    return -1;
  p->own_keys[0].id = id;
  memcpy(p->own_keys[0].key, key, sizeof(key));
  p->n_own_keys = 1;
  if (path[0]) {
    mode_t old = umask(077);
    FILE *f = fopen(path, "w");
    umask(old);
    if (!f)
      return -1;
    sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
    fprintf(f, "%u %s\n", (unsigned)id, hex);
    fclose(f);
    sodium_memzero(hex, sizeof(hex));
  }
  sodium_memzero(key, sizeof(key));
  return 0;
}

/* ---- what libsipflow reports -----------------------------------------------
 */

static void on_flow_failed(sipflow_flow_table *ft, const sipflow_flow_info *f,
                           int reason, void *ud) {
  px *p = ud;
  (void)ft;
  px_udp_flow_ended(f);
  if (p->forgetting)
    return; /* a silent UDP flow nothing used: no binding, no keepalive */
  p->stats.flows_failed++;
  px_log_net(p, SIPFLOW_LOG_INFO, "flow %llu failed: %s",
             (unsigned long long)f->id, sipflow_flow_end_reason_name(reason));
  /* RFC 5626 §7: every binding on the flow goes, whatever its AoR. */
  if (p->reg)
    sipflow_registrar_flow_failed(p->reg, f->id, sipflow_uv_now());
  px_ka_flow_gone(p, f->id, reason);
}

static void on_binding(sipflow_registrar *reg, sipflow_reg_change change,
                       const sipflow_reg_binding *b, void *ud) {
  px *p = ud;
  static const char *const names[] = {
      "", "added", "refreshed", "updated", "removed", "expired", "flow-failed"};
  (void)reg;
  /* Before the keepalive is told: a binding another node took over ends
   * our keepalive of its old flow. */
  px_cluster_binding(p, change, b);
  /* Caused by network input: rate-limited like every such line. */
  px_log_net(
      p, change == SIPFLOW_REG_REFRESHED ? SIPFLOW_LOG_DEBUG : SIPFLOW_LOG_INFO,
      "binding %s: %.*s -> %.*s%s", names[change % 7], (int)b->aor.len,
      b->aor.ptr, (int)b->uri.len, b->uri.ptr,
      b->outbound ? " (outbound)" : "");
  /* A suspended binding (RFC 8599) has no flow to keep open. */
  px_ka_binding(p, b,
                (change == SIPFLOW_REG_ADDED ||
                 change == SIPFLOW_REG_REFRESHED ||
                 change == SIPFLOW_REG_UPDATED) &&
                    !b->suspended);
  px_push_binding(p, change, b);
  /* Inside sipflow_registrar_process(): stored before the 200 OK leaves. */
  px_state_binding(p, change, b);
}

int px_keys_ready(px *p) {
  uint8_t current;
  if (sipflow_keyring_get_current(p->keyring, &current) == 0)
    return 0;
  if (create_key(p, p->cfg.token_key_file) != 0) {
    fprintf(stderr, "sipflow-proxy: cannot create the key ring %s\n",
            p->cfg.token_key_file);
    return -1;
  }
  return 0;
}

void px_flow_dead(px *p, sipflow_flow_id flow) {
  /* Keepalives went unanswered: the flow has failed (RFC 5626 §4.4). */
  px_conn_close_flow(p, flow);
}

/* ---- set-up and shutdown ------------------------------------------------- */

/* After each timer callback: the probes it batched go out together. */
static void on_expired(sipflow_uv_timer *t, int rv, void *ud) {
  (void)t;
  (void)rv;
  px_udp_flush(ud);
}

static int make_objects(px *p) {
  sipflow_ctx_callbacks ccb = {px_sipflow_log, sipflow_uv_rand};
  sipflow_ctx_settings cs;
  sipflow_flow_callbacks fcb = {on_flow_failed};
  sipflow_flow_settings fs;
  sipflow_registrar_callbacks rcb = {on_binding, NULL};
  sipflow_registrar_settings rs;
  int rv;

  sipflow_ctx_settings_default(&cs);
  cs.log_level = (sipflow_log_level)p->cfg.log_level;
  if (sipflow_uv_settings_randomize(&cs) != 0 ||
      sipflow_ctx_new(&p->ctx, &ccb, &cs, NULL, p) != 0 ||
      sipflow_keyring_new(&p->keyring, p->ctx) != 0) {
    fprintf(stderr, "sipflow-proxy: out of memory\n");
    return -1;
  }
  if (load_keys(p, p->cfg.token_key_file) < 0) {
    fprintf(stderr, "sipflow-proxy: cannot load the key ring %s\n",
            p->cfg.token_key_file);
    return -1;
  }
  sipflow_flow_settings_default(&fs);
  fs.max_flows = p->cfg.max_flows;
  if ((rv = sipflow_flow_table_new(&p->flows, p->ctx, p->keyring, &fcb, &fs,
                                   p)) != 0) {
    fprintf(stderr, "sipflow-proxy: flow table: %s\n", sipflow_strerror(rv));
    return -1;
  }
  if (p->cfg.role != PX_ROLE_EDGE) {
    sipflow_registrar_settings_default(&rs);
    rs.outbound = p->cfg.outbound;
    rs.min_expires = p->cfg.min_expires;
    rs.max_expires = p->cfg.max_expires;
    rs.default_expires = p->cfg.default_expires;
    rs.max_contacts = p->cfg.max_contacts ? p->cfg.max_contacts : 1;
    rs.flow_timer = p->cfg.flow_timer;
    rs.max_bindings = p->cfg.max_bindings;
    rs.push_providers.ptr = p->cfg.push_providers;
    rs.push_providers.len = strlen(p->cfg.push_providers);
    rs.push_refresh = p->cfg.push_refresh;
    if (p->cfg.push_webhook[0])
      rcb.on_push = px_push_request;
    if (p->cfg.dead_contact_expire >= 0) {
      rs.dead_flow = SIPFLOW_REG_DEAD_FLOW_SHORTEN;
      rs.dead_flow_expires = (uint32_t)p->cfg.dead_contact_expire;
    }
    rv = sipflow_registrar_new(&p->reg, p->ctx, &rcb, &rs, p);
    /* GRUUs (RFC 5627) for the UAs that ask: temporary ones are minted
     * with the token ring, so they live as long as the stored ring
     * (--state, --token-key) and verify on every node sharing it.
     * --gruu off: no GRUUs in the 200, Require: gruu gets 420, and a
     * Request-URI with "gr" is looked up as its AoR (docs/gruu.md). */
    if (rv == 0 && p->cfg.gruu)
      rv = sipflow_registrar_set_gruu(p->reg, p->keyring);
    if (rv != 0) {
      fprintf(stderr, "sipflow-proxy: registrar: %s\n", sipflow_strerror(rv));
      return -1;
    }
  }
  if (p->cfg.ka_mode != PX_KA_OFF && (rv = px_ka_start(p)) != 0) {
    fprintf(stderr, "sipflow-proxy: keepalive: %s\n", sipflow_strerror(rv));
    return -1;
  }
  if ((rv = sipflow_uv_timer_new(&p->timer, p->loop, p->ctx, on_expired, p)) !=
      0)
    return rv;
  /* Keepalive probes and expiries due within 10 ms share one wake-up
   * (docs/proxy.md, "Keepalive cost"): at 50 000 contacts that is ~50
   * probes per callback instead of one or two. */
  sipflow_uv_timer_set_slack(p->timer, 10 * SIPFLOW_MILLISECONDS);
  return 0;
}

static uv_check_t rearm;

/* After each loop iteration's callbacks: the one timer follows the
 * context's deadline, whatever was called. */
static void rearm_timer(uv_check_t *h) {
  px *p = h->data;
  px_udp_flush(p); /* probes sent outside the timer's callback */
  sipflow_uv_timer_update(p->timer);
}

static void walk_open(uv_handle_t *h, void *arg) {
  px *p = arg;
  if (!uv_is_closing(h))
    px_log(p, SIPFLOW_LOG_DEBUG, "still open at shutdown: %s",
           uv_handle_type_name(uv_handle_get_type(h)));
}

static void shutdown_all(px *p) {
  if (p->stopping)
    return;
  p->stopping = 1;
  px_log(p, SIPFLOW_LOG_INFO, "shutting down");
  px_ctl_stop(p);
  px_cluster_close(p); /* its handles close with the loop's last turns */
  px_push_close(p);
  px_net_stop(p);
  px_txn_shutdown(p);
  uv_close((uv_handle_t *)&p->sigint, NULL);
  uv_close((uv_handle_t *)&p->sigterm, NULL);
  uv_close((uv_handle_t *)&rearm, NULL);
  if (p->cfg.udp_flow_idle)
    uv_close((uv_handle_t *)&p->gc_timer, NULL);
  px_log_stop(p);
  sipflow_uv_timer_del(p->timer);
  p->timer = NULL;
  uv_walk(p->loop, walk_open, p);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  shutdown_all(h->data);
}

int main(int argc, char **argv) {
  px *p = &the_proxy;
  if (argc >= 2 && strcmp(argv[1], "ctl") == 0) {
    const char *path = NULL, *cmd = NULL;
    for (int i = 2; i < argc; i++) {
      if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
        path = argv[++i];
      else
        cmd = argv[i];
    }
    if (!path || !cmd) {
      px_usage(stderr);
      return 2;
    }
    return px_ctl_client(path, cmd);
  }
  if (px_config_parse(&p->cfg, argc, argv) != 0) {
    px_usage(stderr);
    return 2;
  }
  if (sodium_init() < 0)
    return 1;
  /* A peer that closes while we write must cost an EPIPE, not the process. */
  signal(SIGPIPE, SIG_IGN);
  /* --workers N: from here on this is one worker with its own options, or
   * the supervisor, which returns once every worker is gone. Before any
   * loop, socket or thread exists. */
  if (p->cfg.workers > 1) {
    int status;
    if (px_workers_run(&p->cfg, &status) == 0)
      return status;
  }
  p->loop = uv_default_loop();
  px_txn_init(p);
  /* The state is read once the sockets are bound (a UDP binding's flow is
   * its socket and peer), and before anything is answered. */
  if (make_objects(p) != 0 || px_net_start(p) != 0 || px_state_open(p) != 0 ||
      px_cluster_open(p) != 0 || px_keys_ready(p) != 0 ||
      px_push_open(p) != 0 || px_state_keys(p) != 0 ||
      px_udp_gc_start(p) != 0 || px_auth_open(p) != 0) {
    fprintf(stderr, "sipflow-proxy: start-up failed\n");
    return 1;
  }
  /* The control socket appears only once every listener is bound. */
  if (p->cfg.control_path[0] && px_ctl_start(p) != 0)
    return 1;
  uv_check_init(p->loop, &rearm);
  rearm.data = p;
  uv_check_start(&rearm, rearm_timer);
  uv_signal_init(p->loop, &p->sigint);
  uv_signal_init(p->loop, &p->sigterm);
  p->sigint.data = p->sigterm.data = p;
  uv_signal_start(&p->sigint, on_signal, SIGINT);
  uv_signal_start(&p->sigterm, on_signal, SIGTERM);
  px_log(p, SIPFLOW_LOG_INFO, "sipflow-proxy %s ready (role %s)",
         SIPFLOW_VERSION,
         p->cfg.role == PX_ROLE_EDGE        ? "edge"
         : p->cfg.role == PX_ROLE_REGISTRAR ? "registrar"
                                            : "single");
  uv_run(p->loop, UV_RUN_DEFAULT);
  /* Objects go after the loop has closed every handle that uses them. */
  px_state_close(p);
  px_auth_close(p);
  px_ka_stop(p); /* the scheduler and the probes through Paths */
  sipflow_registrar_del(p->reg);
  px_udp_flows_free(p);
  px_limits_free(p);
  sipflow_flow_table_del(p->flows);
  sipflow_keyring_del(p->keyring);
  sipflow_ctx_del(p->ctx);
  uv_loop_close(p->loop);
  for (int i = 0; i < p->cfg.ndomains; i++)
    free(p->cfg.domains[i]);
  return 0;
}
