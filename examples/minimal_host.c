/*
 * A minimal host: no event loop and no sockets, just the core. It shows the
 * shape every host has: create a context, do work that takes `now`, ask for
 * the one deadline, and call handle_expiry when it passes. Here the clock is
 * simulated so the run is instant and repeatable.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sipflow/sipflow.h>

static void on_log(void *user_data, sipflow_log_level level, const char *msg) {
  (void)user_data;
  printf("  log[%d]: %s\n", (int)level, msg);
}

int main(void) {
  const sipflow_info *info = sipflow_version(0);
  sipflow_ctx_callbacks cb = {.log = on_log};
  sipflow_ctx_settings settings;
  sipflow_ctx *ctx;
  sipflow_tstamp now = 0;
  sipflow_addr a;
  char buf[64];
  int rv;

  printf("libsipflow %s\n", info->version_str);

  sipflow_ctx_settings_default(&settings);
  rv = sipflow_ctx_new(&ctx, &cb, &settings, NULL, NULL);
  if (rv != 0) {
    fprintf(stderr, "sipflow_ctx_new: %s\n", sipflow_strerror(rv));
    return 1;
  }

  /* Addresses are plain values: family + bytes + port. */
  sipflow_addr_parse(&a, "::1", 5060);
  sipflow_addr_format(&a, buf, sizeof(buf));
  printf("flow endpoint %s over %s\n", buf,
         sipflow_transport_name(SIPFLOW_TRANSPORT_TCP));

  /* The host's single timer: nothing is scheduled yet. */
  sipflow_tstamp expiry = sipflow_ctx_get_expiry(ctx);
  printf("next deadline: %s\n", expiry == SIPFLOW_TSTAMP_NONE ? "none" : "set");
  now += 30 * SIPFLOW_SECONDS;
  rv = sipflow_ctx_handle_expiry(ctx, now);
  printf("handle_expiry at t=30s: %s\n", sipflow_err_name(rv));

  /* Errors are negative codes with names and messages. */
  rv = sipflow_addr_parse(&a, "not-an-address", 5060);
  printf("parsing a bad address: %s (%s)\n", sipflow_err_name(rv),
         sipflow_strerror(rv));

  sipflow_ctx_del(ctx);
  return 0;
}
