#!/usr/bin/env bash
# sipflow-proxy's digest authentication (RFC 3261 §22, RFC 8760): challenges
# with SHA-256 and MD5, credentials from --auth-file, stale and replayed
# nonces, bindings that only their user can replace or wipe, an edge that
# passes challenges and credentials to its registrar, --auth all for
# INVITE, and the loud warning of a server left open. Prints TAP.
# usage: test_auth.sh PATH/TO/sipflow-proxy
PROXY=$1
. "$(dirname "$0")/lib.sh"
DIGEST="python3 $HERE/digest.py"

# HA1 values (never passwords) for realm example.com; one line of another
# realm, which is skipped.
ha1() { printf '%s' "$1:$2:$3" | "$4" | cut -d' ' -f1; }
AUTH=$WIRE_TMP/users
{
  echo "# user:realm:HA1-MD5:HA1-SHA-256"
  for u in alice:secret bob:bobpw; do
    n=${u%%:*} pw=${u#*:}
    echo "$n:example.com:$(ha1 "$n" example.com "$pw" md5sum):$(ha1 "$n" example.com "$pw" sha256sum)"
  done
  echo "carol:other.example:$(ha1 carol other.example pw md5sum)"
} >"$AUTH"

P=$(free_port)
CTL=$WIRE_TMP/ctl
start proxy "$PROXY" --listen udp:127.0.0.1:$P --listen tcp:127.0.0.1:$P \
  --domain example.com --control "$CTL" --auth all --auth-file "$AUTH" \
  --auth-nonce-ttl 2 --keepalive off --txn-timeout-ms 2000 --log-level debug
PROXY_PID=$LAST_PID
check "proxy with --auth all --auth-file up" wait_for "$CTL" 10
check "its start-up log names the realm and the users read" \
  grep -q 'auth: 2 users of realm "example.com"' "$WIRE_TMP/proxy.log"

check "an unauthenticated REGISTER gets 401 offering SHA-256 then MD5" \
  $DIGEST challenge 127.0.0.1 $P
check "the right password under MD5 gets 200" \
  $DIGEST register 127.0.0.1 $P --alg MD5
check "the right password under SHA-256 gets 200" \
  $DIGEST register 127.0.0.1 $P --alg SHA-256 --transport tcp
check "the algorithm is a token: sha-256 in lower case gets 200 too" \
  $DIGEST register 127.0.0.1 $P --alg SHA-256 --lower-alg
check "a wrong password gets 403" \
  $DIGEST register 127.0.0.1 $P --password wrong --expect 403
check "a user not in the file gets 403" \
  $DIGEST register 127.0.0.1 $P --user mallory --expect 403
check "a user of another realm gets 403" \
  $DIGEST register 127.0.0.1 $P --user carol --password pw --expect 403
check "a nonce past --auth-nonce-ttl gets 401 stale=true, then the new one works" \
  $DIGEST stale 127.0.0.1 $P --alg SHA-256 --wait 3.2
check "a replayed nonce-count is refused (401), the next count accepted" \
  $DIGEST replay 127.0.0.1 $P

# Outbound: alice's binding (instance, reg-id 1) on one flow.
INST=00000000-0000-1000-8000-00000000a11c
A1=$(free_port)
check "alice registers an Outbound binding" \
  $DIGEST register 127.0.0.1 $P --instance $INST --lport $A1
alice_on() { # port: alice's one Outbound binding is on that flow
  json_check "$CTL" dump "[b['flow']['remote'] for b in d['bindings'] if b['aor']=='sip:alice@example.com' and b['reg_id']==1]==['127.0.0.1:$1']"
}
check "the binding is on alice's flow" alice_on $A1
check "bob's credentials can't take alice's binding (same instance, reg-id)" \
  $DIGEST register 127.0.0.1 $P --user bob --password bobpw --to alice \
  --instance $INST --expect 403
check "no credentials can't either (401 only)" \
  $DIGEST register 127.0.0.1 $P --password - --to alice --instance $INST \
  --expect 401
check "bob's credentials can't wipe alice's bindings (Contact: *)" \
  $DIGEST register 127.0.0.1 $P --user bob --password bobpw --to alice \
  --star --expires 0 --expect 403
check "alice's binding is untouched" alice_on $A1
A2=$(free_port)
check "alice re-registers on a new flow and authenticates there" \
  $DIGEST register 127.0.0.1 $P --instance $INST --lport $A2
check "the binding moved to the new flow" alice_on $A2

check "--auth all: an INVITE from alice gets 407, answered it is routed" \
  $DIGEST invite 127.0.0.1 $P --to nobody --alg SHA-256
check "--auth all: an INVITE claiming alice with a wrong password gets 403" \
  sh -c "! $DIGEST invite 127.0.0.1 $P --to nobody --password wrong"
check "stats count challenges, stale and replayed nonces" \
  json_check "$CTL" stats \
  "d['auth_challenges']>=10 and d['auth_ok']>=6 and d['auth_failed']>=5 and d['auth_stale']>=1 and d['auth_replayed']>=1"

# An edge in front of a registrar that authenticates: the 401 and the
# retried REGISTER pass through, and the edge's Path token still routes.
R=$(free_port)
E=$(free_port)
# The registrar knows its edge (--peer): it follows Paths through it.
start registrar "$PROXY" --role registrar --listen udp:127.0.0.1:$R \
  --domain example.com --control "$WIRE_TMP/reg.ctl" --auth-file "$AUTH" \
  --keepalive off --txn-timeout-ms 2000 --log-level debug \
  --peer udp:127.0.0.1:$E
start edge "$PROXY" --role edge --listen udp:127.0.0.1:$E \
  --registrar udp:127.0.0.1:$R --control "$WIRE_TMP/edge.ctl" \
  --txn-timeout-ms 2000 --log-level debug
check "registrar up" wait_for "$WIRE_TMP/reg.ctl" 10
check "edge up" wait_for "$WIRE_TMP/edge.ctl" 10
check "through the edge: 401, then 200, and a request reaches the phone by the token" \
  $DIGEST reach 127.0.0.1 $E --user bob --password bobpw --alg SHA-256 \
  --instance 00000000-0000-1000-8000-0000000000b0 --reg-port $R

# SIPp 3.6 answers only MD5 challenges, and only the first one: a server
# that offers MD5 first (--auth-algorithms md5,sha-256) serves it.
M=$(free_port)
start md5first "$PROXY" --listen udp:127.0.0.1:$M --domain example.com \
  --control "$WIRE_TMP/md5.ctl" --auth-file "$AUTH" \
  --auth-algorithms md5,sha-256 --keepalive off
check "md5-first proxy up" wait_for "$WIRE_TMP/md5.ctl" 10
check "SIPp's [authentication] (MD5) registers: 401, then 200" \
  sipp_run sipp_auth -sf "$SCEN/auth_register.xml" -s bob -au bob -ap bobpw -auth_uri example.com \
  -m 1 -i 127.0.0.1 -p "$(free_port)" 127.0.0.1:$M
check "SIPp with a wrong password gets no 200" \
  sh -c "! timeout 40 sipp -nostdin -timeout 5 -timeout_error \
  -sf '$SCEN/auth_register.xml' -s bob -au bob -ap nope -auth_uri example.com -m 1 -i 127.0.0.1 \
  -p $(free_port) 127.0.0.1:$M >/dev/null 2>&1"

# Credentials in an SQLite table (--auth-db), read at each authentication:
# a user added while the proxy runs can register at once.
DB=$WIRE_TMP/users.db
python3 - "$DB" <<PY
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TABLE sipflow_auth (username TEXT NOT NULL, realm TEXT NOT NULL, "
           "ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT, PRIMARY KEY (username, realm))")
db.commit()
PY
add_user() { # user password
  python3 - "$DB" "$1" "$2" <<PY
import hashlib, sqlite3, sys
db, u, pw = sqlite3.connect(sys.argv[1]), sys.argv[2], sys.argv[3]
a1 = f"{u}:example.com:{pw}".encode()
db.execute("INSERT INTO sipflow_auth VALUES (?, 'example.com', ?, ?)",
           (u, hashlib.md5(a1).hexdigest(), hashlib.sha256(a1).hexdigest()))
db.commit()
PY
}
add_user dora doorpw
D=$(free_port)
start dbproxy "$PROXY" --listen udp:127.0.0.1:$D --domain example.com \
  --control "$WIRE_TMP/db.ctl" --auth-db "$DB" --keepalive off
check "proxy with --auth-db up" wait_for "$WIRE_TMP/db.ctl" 10
check "a user from the table registers (SHA-256)" \
  $DIGEST register 127.0.0.1 $D --user dora --password doorpw --alg SHA-256
check "a user not yet in the table gets 403" \
  $DIGEST register 127.0.0.1 $D --user eve --password evepw --expect 403
add_user eve evepw
check "added to the table while the proxy runs, it registers at once" \
  $DIGEST register 127.0.0.1 $D --user eve --password evepw
check "--auth-db without the table refuses to start" \
  sh -c "! timeout 5 '$PROXY' --listen udp:127.0.0.1:$(free_port) --auth-db '$WIRE_TMP/empty.db'"

# Without credentials the server is open, and says so.
O=$(free_port)
start open "$PROXY" --listen udp:127.0.0.1:$O --domain example.com \
  --control "$WIRE_TMP/open.ctl" --keepalive off
check "without --auth-file the start-up log warns that the server is open" \
  until_true 5 grep -q 'auth: OFF. Anyone who can reach this server' \
  "$WIRE_TMP/open.log"
check "and a REGISTER needs no credentials" \
  $DIGEST register 127.0.0.1 $O --user anyone
check "--auth register without --auth-file refuses to start" \
  sh -c "! timeout 5 '$PROXY' --listen udp:127.0.0.1:$(free_port) --auth register"
check "the proxy still runs" kill -0 $PROXY_PID
wire_done
