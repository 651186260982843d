#!/usr/bin/env bash
# GRUUs (RFC 5627) with a real client: JsSIP in headless Chromium over WSS
# through sipflow-proxy. Checks what JsSIP sends (Supported: gruu and its
# +sip.instance, §4.1) and learns (pub-gruu, temp-gruu, §5.2); a call from
# another tab to one of two tabs of the same user, by its pub-gruu and by
# its temp-gruu, rings that tab alone (§6.1); after the tab reloads (a new
# Call-ID) its old temp-gruu gets 404 and the new one rings it (§5.1).
# The driver is tests/clients/gruu-browser.mjs. Prints TAP.
# usage: test_gruu_browsers.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
. "$HERE/tls_server.sh"

tls_skip_unless_supported
need_clients
check "the proxy is up with UDP, TCP, TLS, WS and WSS listeners" server_start
mkdir -p "$WIRE_TMP/pages"
client_tap < <(cd "$CLIENTS" && timeout 300 node gruu-browser.mjs \
  --ws "wss://127.0.0.1:$SRV_WSS" --domain "$DOMAIN" --tmp "$WIRE_TMP/pages" \
  --dump "$(server_dump_cmd)" --bound 280 2>"$WIRE_TMP/driver.log")
check "the proxy is still running" kill -0 "$SRV_PID"
wire_done
