/* Built outside the tree against installed libsipflow-uv and
 * libsipflow-sofia via `pkg-config sipflow-uv sipflow-sofia`. */
#include <stdio.h>

#include <sofia-sip/sip_protos.h>

#include <sipflow/sipflow_sofia.h>
#include <sipflow/sipflow_uv.h>

int main(void) {
  static const char reg[] = "REGISTER sip:example.com SIP/2.0\r\n"
                            "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
                            "From: <sip:a@example.com>;tag=1\r\n"
                            "To: <sip:a@example.com>\r\n"
                            "Call-ID: c@192.0.2.1\r\n"
                            "CSeq: 1 REGISTER\r\n"
                            "Content-Length: 0\r\n\r\n";
  uv_loop_t loop;
  sipflow_ctx *ctx;
  sipflow_uv_timer *t;
  msg_t *msg;
  if (uv_loop_init(&loop) != 0 ||
      sipflow_ctx_new(&ctx, NULL, NULL, NULL, NULL) != 0 ||
      sipflow_uv_timer_new(&t, &loop, ctx, NULL, NULL) != 0)
    return 1;
  sipflow_uv_timer_update(t);
  sipflow_uv_timer_del(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    return 1;
  if (sipflow_sofia_parse(&msg, (const uint8_t *)reg, sizeof(reg) - 1) != 0)
    return 1;
  if (sipflow_sofia_via_count(sip_object(msg)) != 1)
    return 1;
  msg_destroy(msg);
  sipflow_ctx_del(ctx);
  printf("consumer linked libsipflow-uv and libsipflow-sofia\n");
  return 0;
}
