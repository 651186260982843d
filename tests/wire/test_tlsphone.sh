#!/usr/bin/env bash
# baresip (Debian) against sipflow-proxy over TLS with Outbound
# (+sip.instance, reg-id 1, the flow's CRLF keepalives), and calls between
# it and a JsSIP page in headless Chromium on WSS, both ways (signalling
# through the proxy; the media is the phone's DTLS-SRTP and ICE, Chromium's
# fake devices). WIRE_SERVER=kamailio runs the same checks against
# Kamailio. Prints TAP.
# usage: test_tlsphone.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
. "$HERE/tls_server.sh"

tls_skip_unless_supported
need_clients baresip
PHONE="$PY $HERE/realphone.py"
check "the server is up with UDP, TCP, TLS, WS and WSS listeners" server_start
read -r PD CD <<<"$($PHONE free-ports 2)"
$PHONE baresip-config "$WIRE_TMP/dave" "$PD" "$CD" \
  "<sip:dave@$DOMAIN;transport=tls>;sipnat=outbound;regint=300;answermode=auto;audio_codecs=pcmu,pcma;mediaenc=dtls_srtp;medianat=ice;outbound=\"sip:127.0.0.1:$SRV_TLS;transport=tls\""
baresip_media "$WIRE_TMP/dave"
start dave baresip -f "$WIRE_TMP/dave" -s
DAVE_PID=$LAST_PID
check "baresip: control socket answers" $PHONE ready "baresip:$CD" 10
check "baresip: registered over TLS (200 OK)" $PHONE registered "baresip:$CD" 10
dave_binding() {
  server_dump | $PY -c "
import json,sys
bs=[b for b in json.load(sys.stdin)['bindings'] if b['aor']=='sip:dave@$DOMAIN']
sys.exit(0 if len(bs)==1 and bs[0]['outbound'] and bs[0]['reg_id']==1 and bs[0]['flow']['transport']=='tls' else 1)"
}
check "baresip: one binding, Outbound with reg-id 1, on a TLS flow" within 5 dave_binding

# The pages, driven through a FIFO; their lines are read at the end.
mkdir -p "$WIRE_TMP/pages"
mkfifo "$WIRE_TMP/pages.in"
start pages bash -c "cd '$CLIENTS' && exec timeout 200 node jssip-browser.mjs \
  --ws 'wss://127.0.0.1:$SRV_WSS' --domain '$DOMAIN' --tmp '$WIRE_TMP/pages' \
  --dump \"\$0\" --pages-only --bound 190 <'$WIRE_TMP/pages.in' 2>'$WIRE_TMP/driver.err'" \
  "$(server_dump_cmd)"
PAGES_PID=$LAST_PID
exec 7>"$WIRE_TMP/pages.in"
said() { grep -c "^# $1" "$WIRE_TMP/pages.log"; }
check "the two JsSIP pages are up and registered" within 60 grep -q '^# ready' "$WIRE_TMP/pages.log"
echo "dial sip:dave@$DOMAIN" >&7
within 40 [ "$(said done)" -ge 1 ]
check "baresip calls bob's page (TLS -> WSS): up and hung up" \
  $PHONE dial "baresip:$CD" "sip:bob@$DOMAIN" 15
echo answered >&7
within 20 [ "$(said done)" -ge 2 ]
echo end >&7
exec 7>&-
within 30 bash -c "! kill -0 $PAGES_PID"
client_tap <"$WIRE_TMP/pages.log"
check "the server is still running" kill -0 "$SRV_PID"
stop_pid "$DAVE_PID"
wire_done
