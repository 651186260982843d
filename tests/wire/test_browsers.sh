#!/usr/bin/env bash
# JsSIP in headless Chromium against sipflow-proxy over WSS (RFC 7118,
# RFC 5626), with a self-signed certificate made here: two pages register
# with Outbound (+sip.instance, reg-id 1), call each other through the
# proxy (signalling; Chromium's fake media), a reload replaces the page's
# binding at once, the page's binding shows a round-trip time, 100 reloads
# leave exactly one binding per tab, and a closed tab's binding is gone.
# The pages are tests/clients/jssip.html, driven by
# tests/clients/jssip-browser.mjs (puppeteer-core, Debian's chromium).
# WIRE_SERVER=kamailio runs the same checks against Kamailio. Prints TAP.
# usage: test_browsers.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
. "$HERE/tls_server.sh"

tls_skip_unless_supported
need_clients

# WebSocket Pings every 10 s (the first within one interval), so the RTT
# check's 30 s wait holds whatever the spread.
KA=()
[ "$WIRE_SERVER" = kamailio ] || KA=(--ka-interval 10)
check "the server is up with UDP, TCP, TLS, WS and WSS listeners" server_start "${KA[@]}"
# The dump's RTT is sipflow-proxy's (WebSocket Ping/Pong); Kamailio has none
# for WebSocket contacts.
RTT=--rtt
[ "$WIRE_SERVER" = kamailio ] && RTT=
mkdir -p "$WIRE_TMP/pages"
client_tap < <(cd "$CLIENTS" && timeout 400 node jssip-browser.mjs \
  --ws "wss://127.0.0.1:$SRV_WSS" --domain "$DOMAIN" --tmp "$WIRE_TMP/pages" \
  --dump "$(server_dump_cmd)" \
  --cycles "${BROWSER_CYCLES:-100}" --bound 380 $RTT --rtt-wait 30 2>"$WIRE_TMP/driver.log")
check "the server is still running" kill -0 "$SRV_PID"
wire_done
