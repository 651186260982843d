#!/usr/bin/env bash
# SIP.js (npm, in Node on the `ws` package) against sipflow-proxy over WS:
# Outbound registration, then SIP.js's own double-CRLF keepalives inside
# WebSocket messages, each answered with a CRLF pong (RFC 5626 §4.4.1,
# RFC 7118). Driven by tests/clients/sipjs-node.mjs. WIRE_SERVER=kamailio
# runs the same checks against Kamailio. Prints TAP.
# usage: test_sipjs.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
. "$HERE/tls_server.sh"

tls_skip_unless_supported
if [ ! -d "$CLIENTS/node_modules/sip.js" ]; then
  not_ok "the npm clients are installed (scripts/deps.sh)"
  wire_done
  exit
fi
check "the server is up with UDP, TCP, TLS, WS and WSS listeners" server_start
client_tap < <(cd "$CLIENTS" && timeout 90 node sipjs-node.mjs \
  --ws "ws://127.0.0.1:$SRV_WS" --domain "$DOMAIN" --dump "$(server_dump_cmd)" \
  --seconds 12 --interval 2 2>"$WIRE_TMP/driver.log")
check "the server is still running" kill -0 "$SRV_PID"
wire_done
