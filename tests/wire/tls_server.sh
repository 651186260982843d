# shellcheck shell=bash
# Helpers for the wire tests that drive clients written elsewhere (JsSIP in
# Chromium, SIP.js in Node, baresip) over TLS, WS and WSS. Source it after
# lib.sh, with PROXY set.
#
# The same checks run against Kamailio when WIRE_SERVER=kamailio (its
# Debian tls and websocket modules, tests/bench/compare/kamailio-wss.cfg):
# that is how the harness itself is checked against a server it did not
# come with.

CLIENTS=$(cd "$HERE/../clients" && pwd)
COMPARE=$(cd "$HERE/../bench/compare" && pwd)
WIRE_SERVER=${WIRE_SERVER:-sipflow}
DOMAIN=example.com
# The system's Python when there is one: a version manager's shim can take
# seconds to start on a loaded machine, and the drivers ask for dumps often.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# tls_make_cert DIR: a self-signed certificate for 127.0.0.1, made now.
tls_make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

# Whether this build of the proxy has TLS and WebSocket listeners: without,
# a wss: listener fails at start-up with "built without ... support" (with,
# it fails on the missing certificate instead).
tls_supported() {
  [ "$WIRE_SERVER" = kamailio ] && return 0
  ! timeout 5 "$PROXY" --listen "wss:127.0.0.1:$(free_port)" \
    --tls-cert "$WIRE_TMP/none.pem" --tls-key "$WIRE_TMP/none.pem" \
    --control "$WIRE_TMP/probe.ctl" 2>&1 | grep -q 'built without'
}

# tls_skip_unless_supported: the one reason these tests skip.
tls_skip_unless_supported() {
  if ! tls_supported; then
    echo "1..0 # SKIP sipflow-proxy built without TLS and WebSocket support"
    exit 0
  fi
}

# need_clients [baresip]: headless Chromium and the npm clients, and with
# "baresip" the phone with its DTLS-SRTP module; without them the test
# fails with one check saying what is missing (scripts/deps.sh installs it).
need_clients() {
  local what="chromium and the npm clients"
  if [ "${1:-}" = baresip ]; then
    what="chromium, baresip and the npm clients"
    if ! command -v baresip >/dev/null ||
      [ ! -f /usr/lib/baresip/modules/dtls_srtp.so ]; then
      not_ok "$what are installed (scripts/deps.sh)"
      wire_done
      exit
    fi
  fi
  if [ ! -x /usr/bin/chromium ] || [ ! -d "$CLIENTS/node_modules/puppeteer-core" ]; then
    not_ok "$what are installed (scripts/deps.sh)"
    wire_done
    exit
  fi
}

# baresip_media DIR: the phone in DIR does DTLS-SRTP and ICE, as a browser
# wants them, and trusts the certificate made here (its own CA).
baresip_media() {
  printf 'sip_cafile %s\nmodule dtls_srtp.so\nmodule ice.so\n' \
    "$WIRE_TMP/cert.pem" >>"$1/config"
}

# server_start: the server under test on loopback, listening on
#   UDP and TCP $SRV_UDP, TLS $SRV_TLS, WS $SRV_WS, WSS $SRV_WSS
# with the certificate in $WIRE_TMP; SRV_CTL is its control socket.
# Extra arguments go to sipflow-proxy.
server_start() {
  read -r SRV_UDP SRV_TLS SRV_WS SRV_WSS <<<"$(for _ in 1 2 3 4; do free_port; done | tr '\n' ' ')"
  tls_make_cert "$WIRE_TMP" || return 1
  case $WIRE_SERVER in
  sipflow)
    SRV_CTL=$WIRE_TMP/proxy.ctl
    start proxy "$PROXY" --domain $DOMAIN --control "$SRV_CTL" \
      --register-rate 0 --max-conns-per-source 0 \
      --listen udp:127.0.0.1:$SRV_UDP --listen tcp:127.0.0.1:$SRV_UDP \
      --listen tls:127.0.0.1:$SRV_TLS --listen ws:127.0.0.1:$SRV_WS \
      --listen wss:127.0.0.1:$SRV_WSS \
      --tls-cert "$WIRE_TMP/cert.pem" --tls-key "$WIRE_TMP/key.pem" "$@"
    SRV_PID=$LAST_PID
    ;;
  kamailio)
    SRV_CTL=$WIRE_TMP/kamailio.rpc
    cat >"$WIRE_TMP/tls.cfg" <<TLS
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = $WIRE_TMP/key.pem
certificate = $WIRE_TMP/cert.pem
[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
TLS
    start kamailio kamailio -DD -E -f "$COMPARE/kamailio-wss.cfg" -n 2 \
      -m 256 -M 16 -Y "$WIRE_TMP" -w "$WIRE_TMP" \
      -A "RPC_SOCK=\"$SRV_CTL\"" -A "TLS_CFG=\"$WIRE_TMP/tls.cfg\"" \
      -A "KA_MODE=0" \
      -l udp:127.0.0.1:$SRV_UDP -l tcp:127.0.0.1:$SRV_UDP \
      -l tls:127.0.0.1:$SRV_TLS -l tcp:127.0.0.1:$SRV_WS \
      -l tls:127.0.0.1:$SRV_WSS
    SRV_PID=$LAST_PID
    ;;
  esac
  within 10 [ -S "$SRV_CTL" ]
}

# server_dump: {"bindings": [...]} in sipflow-proxy's ctl dump shape.
server_dump() {
  case $WIRE_SERVER in
  sipflow) "$PROXY" ctl --control "$SRV_CTL" dump ;;
  kamailio) $PY "$COMPARE/kamrpc.py" "$SRV_CTL" dump ;;
  esac
}

# server_dump_cmd: server_dump as one shell command, for client drivers.
server_dump_cmd() {
  case $WIRE_SERVER in
  sipflow) printf "'%s' ctl --control '%s' dump" "$PROXY" "$SRV_CTL" ;;
  kamailio) printf "%s '%s/kamrpc.py' '%s' dump" "$PY" "$COMPARE" "$SRV_CTL" ;;
  esac
}

# client_tap: a client driver's "ok - ..." / "not ok - ..." lines on stdin
# become this script's TAP lines; other lines pass through.
client_tap() {
  local line
  while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) not_ok "${line#not ok - }" ;;
    *) echo "$line" ;;
    esac
  done
}
