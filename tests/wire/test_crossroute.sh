#!/usr/bin/env bash
# Calls that cross transports through sipflow-proxy, with clients no one
# here wrote: a JsSIP page in headless Chromium on WSS and baresip on UDP,
# then baresip on TLS. Each way, and the BYE from each side: the page
# calls the phone and hangs up; the page calls, the phone hangs up; the
# phone calls the page and hangs up; the phone calls, the page hangs up.
# The bytes the phone got are checked: two Record-Route values, the one
# facing the phone on top (RFC 7118 §8.2), each with its flow's token and
# transport (RFC 3261 §16.6, RFC 5626 §5.3); the page's Via SIP/2.0/WSS
# with received and rport (RFC 7118 §5.2, RFC 3581). Prints TAP.
# usage: test_crossroute.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
. "$HERE/tls_server.sh"

tls_skip_unless_supported
need_clients baresip
PHONE="$PY $HERE/realphone.py"
WIRE="$PY $HERE/sipwire.py"
check "the server is up with UDP, TCP, TLS, WS and WSS listeners" server_start
read -r CP CC DP DC <<<"$($PHONE free-ports 4)"
$PHONE baresip-config "$WIRE_TMP/carol" "$CP" "$CC" \
  "<sip:carol@$DOMAIN;transport=udp>;regint=300;answermode=auto;audio_codecs=pcmu,pcma;mediaenc=dtls_srtp;medianat=ice;outbound=\"sip:127.0.0.1:$SRV_UDP;transport=udp\""
baresip_media "$WIRE_TMP/carol"
$PHONE baresip-config "$WIRE_TMP/dave" "$DP" "$DC" \
  "<sip:dave@$DOMAIN;transport=tls>;sipnat=outbound;regint=300;answermode=auto;audio_codecs=pcmu,pcma;mediaenc=dtls_srtp;medianat=ice;outbound=\"sip:127.0.0.1:$SRV_TLS;transport=tls\""
baresip_media "$WIRE_TMP/dave"
start carol baresip -f "$WIRE_TMP/carol" -s
start dave baresip -f "$WIRE_TMP/dave" -s
check "baresip carol and dave: control sockets answer" sh -c \
  "$PHONE ready baresip:$CC 20 && $PHONE ready baresip:$DC 20"
check "baresip carol: registered over UDP" $PHONE registered "baresip:$CC" 20
check "baresip dave: registered over TLS" $PHONE registered "baresip:$DC" 20

mkdir -p "$WIRE_TMP/pages"
mkfifo "$WIRE_TMP/pages.in"
start pages bash -c "cd '$CLIENTS' && exec timeout 400 node jssip-browser.mjs \
  --ws 'wss://127.0.0.1:$SRV_WSS' --domain '$DOMAIN' --tmp '$WIRE_TMP/pages' \
  --dump \"\$0\" --pages-only --bound 390 <'$WIRE_TMP/pages.in' 2>'$WIRE_TMP/driver.err'" \
  "$(server_dump_cmd)"
PAGES_PID=$LAST_PID
exec 7>"$WIRE_TMP/pages.in"
said() { grep -c "^# $1" "$WIRE_TMP/pages.log"; }
check "the two JsSIP pages are up and registered over WSS" within 60 grep -q '^# ready' "$WIRE_TMP/pages.log"

DONE=0
page() { # a command to the pages; waits for it to be done
  echo "$1" >&7
  DONE=$((DONE + 1))
  within "${2:-40}" [ "$(said done)" -ge $DONE ]
}

# rr LOG PEER WAY START: the Record-Route values of that message, one line.
rr() { $WIRE "$1" "$2" "$3" "$4" Record-Route | tr '\n' ' '; }
# rr_is LOG PEER WAY START 'regex': that message's Record-Route matches.
rr_is() {
  local got
  got=$(rr "$1" "$2" "$3" "$4") || return 1
  echo "record-route: $got"
  [[ "$got" =~ ^$5\ $ ]]
}
# A token: base64url (RFC 4648 §5).
TOK='[A-Za-z0-9_-]+'

for who in carol dave; do
  if [ $who = carol ]; then TP=udp; PORT=$SRV_UDP; CTRL=$CC; else TP=tls; PORT=$SRV_TLS; CTRL=$DC; fi
  LOG=$WIRE_TMP/$who.log
  PEER=127.0.0.1:$PORT
  # 1. The page calls, the page hangs up (BYE WSS -> $TP).
  page "dial sip:$who@$DOMAIN"
  check "$who ($TP): the INVITE from the page has Record-Route <$TP side>, <wss side>" \
    rr_is "$LOG" "$PEER" in "INVITE " \
    "<sip:$TOK@127\.0\.0\.1:$PORT;transport=$TP;lr> <sip:$TOK@127\.0\.0\.1:$SRV_WSS;transport=wss;lr>"
  check "$who ($TP): the page's Via is SIP/2.0/WSS with received and rport" sh -c \
    "$WIRE '$LOG' '$PEER' in 'INVITE ' Via | grep -E '^SIP/2.0/WSS [a-z0-9]+\.invalid;' | grep 'received=127.0.0.1' | grep -Eq 'rport=[0-9]+'"
  check "$who ($TP): the page's BYE reached the phone, which answered it" sh -c \
    "$WIRE '$LOG' '$PEER' in 'BYE ' >/dev/null && $WIRE '$LOG' '$PEER' out 'SIP/2.0 200|BYE' >/dev/null"
  # 2. The page calls, the phone hangs up (BYE $TP -> WSS, from the callee).
  echo "call sip:$who@$DOMAIN" >&7
  DONE=$((DONE + 1))
  check "$who ($TP): answered the page's call and hung up" \
    $PHONE hangup-answered "baresip:$CTRL" 30
  within 40 [ "$(said done)" -ge $DONE ]
  # 3. The phone calls the page and hangs up (BYE $TP -> WSS, from the caller).
  check "$who ($TP): called bob's page, up, hung up" \
    $PHONE dial "baresip:$CTRL" "sip:bob@$DOMAIN" 20
  page answered
  check "$who ($TP): the page's 200 has Record-Route <wss side>, <$TP side>" \
    rr_is "$LOG" "$PEER" in "SIP/2.0 200|INVITE" \
    "<sip:$TOK@127\.0\.0\.1:$SRV_WSS;transport=wss;lr> <sip:$TOK@127\.0\.0\.1:$PORT;transport=$TP;lr>"
  check "$who ($TP): its ACK and BYE carried both values as Route, its own side first" sh -c \
    "$WIRE '$LOG' '$PEER' out 'ACK ' Route | tr '\n' ' ' | grep -Eq '^<sip:$TOK@127\.0\.0\.1:$PORT;transport=$TP;lr> <sip:$TOK@127\.0\.0\.1:$SRV_WSS;transport=wss;lr> $' &&
     $WIRE '$LOG' '$PEER' out 'BYE ' Route | tr '\n' ' ' | grep -Eq '^<sip:$TOK@127\.0\.0\.1:$PORT;transport=$TP;lr> <sip:$TOK@127\.0\.0\.1:$SRV_WSS;transport=wss;lr> $'"
  # 4. The phone calls, the page hangs up (BYE WSS -> $TP, from the callee).
  echo hangup >&7
  DONE=$((DONE + 1))
  check "$who ($TP): called bob's page, which hung up" \
    $PHONE dial-wait "baresip:$CTRL" "sip:bob@$DOMAIN" 30
  within 40 [ "$(said done)" -ge $DONE ]
  check "$who ($TP): the page's BYE (as callee) reached the phone, which answered it" sh -c \
    "[ \$($PY $HERE/realphone.py trace '$LOG' '$PEER' | grep -cx 'in BYE') -ge 2 ] &&
     [ \$($PY $HERE/realphone.py trace '$LOG' '$PEER' | grep -cx 'out 200 BYE') -ge 2 ]"
done
echo end >&7
exec 7>&-
within 30 bash -c "! kill -0 $PAGES_PID"
client_tap <"$WIRE_TMP/pages.log"
check "the server is still running" kill -0 "$SRV_PID"
wire_done
