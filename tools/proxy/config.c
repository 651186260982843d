/*
 * sipflow-proxy: the command line. Its option names are a contract that
 * tests outside the project drive; keep them.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

void px_usage(FILE *out) {
  fputs(
      "usage: sipflow-proxy [options]\n"
      "       sipflow-proxy ctl --control PATH dump|flows|stats\n"
      "       sipflow-proxy -h|--help | -V|--version\n"
      "\n"
      "  --listen udp|tcp|tls|ws|wss:HOST:PORT  repeatable; [::1] for IPv6\n"
      "  --role single|edge|registrar       default single\n"
      "  --registrar udp|tcp:HOST:PORT      edge role: where REGISTERs and\n"
      "                                     UA-originated requests go\n"
      "  --advertise HOST[:PORT]            address in Path / Record-Route\n"
      "  --domain DOMAIN                    repeatable; others get 404\n"
      "  --alias HOST[:PORT]                repeatable; another name of this\n"
      "                                     server (an edge in front of it)\n"
      "  --peer udp|tcp:HOST:PORT           repeatable; a next hop requests\n"
      "                                     may be forwarded to (no relay to\n"
      "                                     any other host)\n"
      "  --outbound off|supported|required  default supported\n"
      "  --flow-timer SECONDS               default 25\n"
      "  --min-expires S --max-expires S --default-expires S\n"
      "  --max-contacts N\n"
      "  --keepalive off|auto|options|crlf|stun|udp4   default auto\n"
      "  --ka-interval S --ka-timeout S --ka-misses N\n"
      "  --dead-contact remove|expire:N     default remove\n"
      "  --token-key FILE                   key ring; created if missing\n"
      "  --control PATH                     unix socket for `ctl`\n"
      "  --log-level error|warn|info|debug  default info\n"
      "  --state FILE                       SQLite file: bindings and the key\n"
      "                                     ring survive restarts\n"
      "  --redis redis://HOST:PORT          share bindings with the other\n"
      "                                     nodes through Redis\n"
      "  --node-id NAME                     this node's id (with --redis)\n"
      "  --redis-sentinel HOST:PORT[,...]   find the Redis master through\n"
      "                                     these Sentinels (for --redis)\n"
      "  --redis-master NAME                its name there (default mymaster)\n"
      "  --txn-timeout-ms MS                branch timeout before a local 408\n"
      "                                     (default 32000, RFC 3261 Timer "
      "B)\n"
      "  --udp-flow-idle S                  forget a UDP peer silent this "
      "long\n"
      "                                     with no binding and no keepalive\n"
      "                                     (default 900; 8x for a peer whose\n"
      "                                     token we handed out; 0: never)\n"
      "  --max-flows N                      most flows at once (default\n"
      "                                     100000; 0: no limit but memory)\n"
      "  --rx-coalesce-ms MS                when a UDP socket is busy, read "
      "it\n"
      "                                     every MS ms (default 0: at "
      "once,\n"
      "                                     what is queued in one batch)\n"
      "  --reuse-port                       share the ports with other\n"
      "                                     processes (SO_REUSEPORT)\n"
      "  --workers N                        run N worker processes on the\n"
      "                                     same ports, each a --redis node\n"
      "                                     (ID.1 .. ID.N), and supervise\n"
      "                                     them (default 1: one process)\n"
      "  --worker-port BASE                 worker i's private loopback\n"
      "                                     port is BASE+i-1 (default: free\n"
      "                                     ports the kernel gives)\n",
      out);
  fputs(
      "  --max-send-queue BYTES             bytes queued for one TCP peer "
      "that\n"
      "                                     does not read; past it the\n"
      "                                     connection is closed (default\n"
      "                                     1048576; 0: no cap)\n"
      "  --max-bindings N                   bindings in all; new ones past "
      "it\n"
      "                                     get 503 (default 100000; 0: none)\n"
      "  --register-rate N                  REGISTERs per second from one\n"
      "                                     address; past it 503 (default 20;\n"
      "                                     0: no limit; not in role "
      "registrar)\n"
      "  --register-burst N                 REGISTERs at once from one "
      "address\n"
      "                                     (default 100)\n"
      "  --tcp-hello-timeout S              close a TCP connection that sent\n"
      "                                     no SIP message within S seconds\n"
      "                                     (default 10; 0: never)\n"
      "  --max-conns-per-source N           TCP connections from one address\n"
      "                                     (default 128; 0: no cap)\n"
      "  --auth register|all|off            who must authenticate "
      "(default\n"
      "                                     register with --auth-file, else\n"
      "                                     off: open to anyone)\n"
      "  --auth-file FILE                   user:realm:HA1-MD5[:HA1-SHA-256]\n"
      "  --auth-db FILE                     SQLite file with table "
      "sipflow_auth\n"
      "  --auth-realm REALM                 default the first --domain\n"
      "  --auth-nonce-ttl S                 nonce lifetime (default 300)\n"
      "  --auth-nonces N                    nonces tracked against replay\n"
      "                                     (default 65536)\n"
      "  --auth-algorithms LIST             offered, in order (default\n"
      "                                     sha-256,md5)\n",
      out);
  fputs(
      "  --tls-cert FILE --tls-key FILE     PEM certificate chain and key\n"
      "                                     for tls: and wss: listeners\n"
      "  --tls-ca FILE                      ask TLS clients for a\n"
      "                                     certificate signed by these CAs\n"
      "  --ws-idle-timeout S                close a WS connection with no\n"
      "                                     binding after S seconds without\n"
      "                                     a message (default 60; 0: never)\n",
      out);
  fputs(
      "  --push-webhook URL                 POST push requests (RFC 8599) "
      "as\n"
      "                                     JSON to this gateway\n"
      "  --push-providers LIST              pn-provider values served, e.g.\n"
      "                                     apns,fcm:300 (others get 555)\n"
      "  --push-refresh S                   refresh push S seconds before\n"
      "                                     expiry (+sip.pnsreg; default 0:\n"
      "                                     none)\n"
      "  --push-wait S                      hold a call for a woken phone\n"
      "                                     (1..300, default 30), then 480\n"
      "  --push-max-held N                  requests held for pushed phones\n"
      "                                     at once (default 4096), then 480\n"
      "  --push-max-recent N                bindings remembered as pushed\n"
      "                                     within --push-wait (default 4096)\n"
      "  --gruu on|off                      GRUUs (RFC 5627) in the registrar\n"
      "                                     and single roles (default on)\n",
      out);
}

static int parse_u32(const char *s, uint32_t *out) {
  char *end;
  unsigned long v;
  if (!s || !*s)
    return -1;
  v = strtoul(s, &end, 10);
  if (*end || v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* "udp:1.2.3.4:5060", "tcp:[::1]:5060" */
int px_parse_endpoint(const char *s, px_endpoint_cfg *ep) {
  const char *colon = strchr(s, ':');
  const char *host, *port_s;
  char hostbuf[128];
  uint32_t port;
  int t;
  if (!colon)
    return -1;
  t = sipflow_transport_parse(s, (size_t)(colon - s));
  if (t != SIPFLOW_TRANSPORT_UDP && t != SIPFLOW_TRANSPORT_TCP)
    return -1;
  host = colon + 1;
  port_s = strrchr(host, ':');
  if (!port_s || (size_t)(port_s - host) >= sizeof(hostbuf))
    return -1;
  if (host[0] == '[' && port_s[-1] != ']')
    return -1;
  memcpy(hostbuf, host, (size_t)(port_s - host));
  hostbuf[port_s - host] = '\0';
  if (parse_u32(port_s + 1, &port) != 0 || port > 65535)
    return -1;
  if (sipflow_addr_parse(&ep->addr, hostbuf, (uint16_t)port) != 0)
    return -1;
  ep->transport = t;
  return 0;
}

static int parse_log_level(const char *s) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0)
      return i;
  return -1;
}

static int parse_ka(const char *s, px_ka_mode *m) {
  static const struct {
    const char *name;
    px_ka_mode mode;
  } modes[] = {{"off", PX_KA_OFF},         {"auto", PX_KA_AUTO},
               {"options", PX_KA_OPTIONS}, {"crlf", PX_KA_CRLF},
               {"stun", PX_KA_STUN},       {"udp4", PX_KA_UDP4}};
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
    if (strcmp(s, modes[i].name) == 0) {
      *m = modes[i].mode;
      return 0;
    }
  return -1;
}

static void config_defaults(px_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->role = PX_ROLE_SINGLE;
  cfg->workers = 1;
  cfg->outbound = SIPFLOW_REG_OUTBOUND_SUPPORTED;
  cfg->flow_timer = 25;
  cfg->min_expires = 60;
  cfg->max_expires = 3600;
  cfg->default_expires = 3600;
  cfg->max_contacts = 10;
  cfg->ka_mode = PX_KA_AUTO;
  cfg->ka_interval = 30;
  cfg->ka_timeout = 10;
  cfg->ka_misses = 3;
  cfg->dead_contact_expire = -1;
  cfg->log_level = SIPFLOW_LOG_INFO;
  cfg->txn_timeout_ms = 32000;
  cfg->udp_flow_idle = 900;
  cfg->max_flows = 100000;
  cfg->rx_coalesce_ms = 0;
  cfg->max_send_queue = 1048576;
  cfg->max_bindings = 100000;
  cfg->register_rate = 20;
  cfg->register_burst = 100;
  cfg->tcp_hello_timeout = 10;
  cfg->ws_idle_timeout = 60;
  cfg->max_conns_per_source = 128;
  cfg->auth_nonce_ttl = 300;
  cfg->auth_nonces = 65536;
  cfg->push_wait = 30;
  cfg->push_max_held = 4096;
  cfg->push_max_recent = 4096;
  cfg->gruu = true;
}

enum {
  O_LISTEN = 256,
  O_ROLE,
  O_REGISTRAR,
  O_ADVERTISE,
  O_DOMAIN,
  O_OUTBOUND,
  O_FLOW_TIMER,
  O_MIN_EXP,
  O_MAX_EXP,
  O_DEF_EXP,
  O_MAX_CONTACTS,
  O_KA,
  O_KA_INTERVAL,
  O_KA_TIMEOUT,
  O_KA_MISSES,
  O_DEAD,
  O_TOKEN_KEY,
  O_CONTROL,
  O_LOG_LEVEL,
  O_TXN_TIMEOUT,
  O_STATE,
  O_REDIS,
  O_NODE_ID,
  O_REDIS_SENTINEL,
  O_REDIS_MASTER,
  O_UDP_FLOW_IDLE,
  O_MAX_FLOWS,
  O_RX_COALESCE,
  O_PEER,
  O_ALIAS,
  O_HELP,
  O_MAX_SEND_QUEUE,
  O_MAX_BINDINGS,
  O_REGISTER_RATE,
  O_REGISTER_BURST,
  O_TCP_HELLO,
  O_MAX_CONNS_SRC,
  O_AUTH_NONCE_TTL,
  O_AUTH_NONCES,
  O_AUTH,
  O_AUTH_FILE,
  O_AUTH_REALM,
  O_AUTH_ALGS,
  O_AUTH_DB,
  O_REUSE_PORT,
  O_TLS_CERT,
  O_TLS_KEY,
  O_TLS_CA,
  O_WS_IDLE,
  O_PUSH_WEBHOOK,
  O_PUSH_PROVIDERS,
  O_PUSH_REFRESH,
  O_PUSH_WAIT,
  O_PUSH_MAX_HELD,
  O_PUSH_MAX_RECENT,
  O_GRUU,
  O_WORKERS,
  O_WORKER_PORT
};

static const struct option options[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"role", required_argument, NULL, O_ROLE},
    {"registrar", required_argument, NULL, O_REGISTRAR},
    {"advertise", required_argument, NULL, O_ADVERTISE},
    {"domain", required_argument, NULL, O_DOMAIN},
    {"outbound", required_argument, NULL, O_OUTBOUND},
    {"flow-timer", required_argument, NULL, O_FLOW_TIMER},
    {"min-expires", required_argument, NULL, O_MIN_EXP},
    {"max-expires", required_argument, NULL, O_MAX_EXP},
    {"default-expires", required_argument, NULL, O_DEF_EXP},
    {"max-contacts", required_argument, NULL, O_MAX_CONTACTS},
    {"keepalive", required_argument, NULL, O_KA},
    {"ka-interval", required_argument, NULL, O_KA_INTERVAL},
    {"ka-timeout", required_argument, NULL, O_KA_TIMEOUT},
    {"ka-misses", required_argument, NULL, O_KA_MISSES},
    {"dead-contact", required_argument, NULL, O_DEAD},
    {"token-key", required_argument, NULL, O_TOKEN_KEY},
    {"control", required_argument, NULL, O_CONTROL},
    {"log-level", required_argument, NULL, O_LOG_LEVEL},
    {"txn-timeout-ms", required_argument, NULL, O_TXN_TIMEOUT},
    {"state", required_argument, NULL, O_STATE},
    {"redis", required_argument, NULL, O_REDIS},
    {"node-id", required_argument, NULL, O_NODE_ID},
    {"redis-sentinel", required_argument, NULL, O_REDIS_SENTINEL},
    {"redis-master", required_argument, NULL, O_REDIS_MASTER},
    {"udp-flow-idle", required_argument, NULL, O_UDP_FLOW_IDLE},
    {"max-flows", required_argument, NULL, O_MAX_FLOWS},
    {"rx-coalesce-ms", required_argument, NULL, O_RX_COALESCE},
    {"peer", required_argument, NULL, O_PEER},
    {"alias", required_argument, NULL, O_ALIAS},
    {"auth-nonce-ttl", required_argument, NULL, O_AUTH_NONCE_TTL},
    {"auth-nonces", required_argument, NULL, O_AUTH_NONCES},
    {"auth", required_argument, NULL, O_AUTH},
    {"auth-file", required_argument, NULL, O_AUTH_FILE},
    {"auth-realm", required_argument, NULL, O_AUTH_REALM},
    {"auth-algorithms", required_argument, NULL, O_AUTH_ALGS},
    {"auth-db", required_argument, NULL, O_AUTH_DB},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, 'V'},
    {"max-send-queue", required_argument, NULL, O_MAX_SEND_QUEUE},
    {"max-bindings", required_argument, NULL, O_MAX_BINDINGS},
    {"register-rate", required_argument, NULL, O_REGISTER_RATE},
    {"register-burst", required_argument, NULL, O_REGISTER_BURST},
    {"tcp-hello-timeout", required_argument, NULL, O_TCP_HELLO},
    {"max-conns-per-source", required_argument, NULL, O_MAX_CONNS_SRC},
    {"reuse-port", no_argument, NULL, O_REUSE_PORT},
    {"workers", required_argument, NULL, O_WORKERS},
    {"worker-port", required_argument, NULL, O_WORKER_PORT},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"tls-ca", required_argument, NULL, O_TLS_CA},
    {"ws-idle-timeout", required_argument, NULL, O_WS_IDLE},
    {"push-webhook", required_argument, NULL, O_PUSH_WEBHOOK},
    {"push-providers", required_argument, NULL, O_PUSH_PROVIDERS},
    {"push-refresh", required_argument, NULL, O_PUSH_REFRESH},
    {"push-wait", required_argument, NULL, O_PUSH_WAIT},
    {"push-max-held", required_argument, NULL, O_PUSH_MAX_HELD},
    {"push-max-recent", required_argument, NULL, O_PUSH_MAX_RECENT},
    {"gruu", required_argument, NULL, O_GRUU},
    {NULL, 0, NULL, 0}};

/* --listen also takes tls:, ws: and wss: (RFC 7118), which the next hops
 * of --registrar and --peer do not. */
static int parse_listen(const char *v, px_endpoint_cfg *ep) {
  static const struct {
    const char *scheme;
    int transport;
  } secure[] = {{"tls:", SIPFLOW_TRANSPORT_TLS},
                {"ws:", SIPFLOW_TRANSPORT_WS},
                {"wss:", SIPFLOW_TRANSPORT_WSS}};
  for (size_t i = 0; i < sizeof(secure) / sizeof(secure[0]); i++) {
    size_t n = strlen(secure[i].scheme);
    char buf[300];
    if (strncasecmp(v, secure[i].scheme, n) != 0)
      continue;
    if (snprintf(buf, sizeof(buf), "tcp:%s", v + n) >= (int)sizeof(buf) ||
        px_parse_endpoint(buf, ep) != 0)
      return -1;
    ep->transport = secure[i].transport;
    return 0;
  }
  return px_parse_endpoint(v, ep);
}

static int bad(const char *opt, const char *val) {
  fprintf(stderr, "sipflow-proxy: invalid value for --%s: '%s'\n", opt, val);
  return -1;
}

static int set_advertise(px_config *cfg, const char *v) {
  const char *colon = strrchr(v, ':');
  size_t hl = strlen(v);
  uint32_t port = 0;
  if (v[0] == '[') { /* [v6]:port or [v6] */
    const char *rb = strchr(v, ']');
    if (!rb)
      return -1;
    hl = (size_t)(rb - v) + 1;
    if (rb[1] == ':' && parse_u32(rb + 2, &port) != 0)
      return -1;
  } else if (colon) {
    hl = (size_t)(colon - v);
    if (parse_u32(colon + 1, &port) != 0)
      return -1;
  }
  if (hl == 0 || hl >= sizeof(cfg->advertise_host) || port > 65535)
    return -1;
  memcpy(cfg->advertise_host, v, hl);
  cfg->advertise_host[hl] = '\0';
  cfg->advertise_port = (uint16_t)port;
  return 0;
}

/* HOST[:PORT] or [v6][:PORT], as --advertise takes it. */
static int set_alias(px_alias_cfg *a, const char *v) {
  px_config tmp;
  if (set_advertise(&tmp, v) != 0)
    return -1;
  memcpy(a->host, tmp.advertise_host, sizeof(a->host));
  a->port = tmp.advertise_port;
  return 0;
}

static int apply(px_config *cfg, int opt, const char *v) {
  uint32_t n;
  switch (opt) {
  case O_LISTEN:
    if (cfg->nlisten >= PX_MAX_LISTENERS ||
        parse_listen(v, &cfg->listen[cfg->nlisten]) != 0)
      return bad("listen", v);
    cfg->nlisten++;
    return 0;
  case O_TLS_CERT:
  case O_TLS_KEY:
  case O_TLS_CA: {
    char *dst = opt == O_TLS_CERT  ? cfg->tls_cert
                : opt == O_TLS_KEY ? cfg->tls_key
                                   : cfg->tls_ca;
    if (!*v || strlen(v) >= sizeof(cfg->tls_cert))
      return bad(opt == O_TLS_CERT  ? "tls-cert"
                 : opt == O_TLS_KEY ? "tls-key"
                                    : "tls-ca",
                 v);
    strcpy(dst, v);
    return 0;
  }
  case O_WS_IDLE:
    if (parse_u32(v, &cfg->ws_idle_timeout) != 0)
      return bad("ws-idle-timeout", v);
    return 0;
  case O_ROLE:
    if (strcmp(v, "single") == 0)
      cfg->role = PX_ROLE_SINGLE;
    else if (strcmp(v, "edge") == 0)
      cfg->role = PX_ROLE_EDGE;
    else if (strcmp(v, "registrar") == 0)
      cfg->role = PX_ROLE_REGISTRAR;
    else
      return bad("role", v);
    return 0;
  case O_REGISTRAR:
    if (px_parse_endpoint(v, &cfg->registrar) != 0)
      return bad("registrar", v);
    cfg->have_registrar = true;
    return 0;
  case O_ADVERTISE:
    return set_advertise(cfg, v) == 0 ? 0 : bad("advertise", v);
  case O_REUSE_PORT:
    cfg->reuse_port = true;
    return 0;
  case O_WORKERS:
    if (parse_u32(v, &n) != 0 || n < 1 || n > PX_MAX_WORKERS)
      return bad("workers", v);
    cfg->workers = n;
    return 0;
  case O_WORKER_PORT:
    if (parse_u32(v, &n) != 0 || n < 1 || n > 65535)
      return bad("worker-port", v);
    cfg->worker_port = (uint16_t)n;
    return 0;
  case O_GRUU:
    if (strcmp(v, "on") == 0)
      cfg->gruu = true;
    else if (strcmp(v, "off") == 0)
      cfg->gruu = false;
    else
      return bad("gruu", v);
    return 0;
  case O_PEER:
    if (cfg->npeers >= PX_MAX_PEERS ||
        px_parse_endpoint(v, &cfg->peers[cfg->npeers]) != 0)
      return bad("peer", v);
    cfg->npeers++;
    return 0;
  case O_ALIAS:
    if (cfg->naliases >= PX_MAX_ALIASES ||
        set_alias(&cfg->aliases[cfg->naliases], v) != 0)
      return bad("alias", v);
    cfg->naliases++;
    return 0;
  case O_DOMAIN:
    if (cfg->ndomains >= PX_MAX_DOMAINS)
      return bad("domain", v);
    cfg->domains[cfg->ndomains++] = strdup(v);
    return 0;
  case O_OUTBOUND:
    if (strcmp(v, "off") == 0)
      cfg->outbound = SIPFLOW_REG_OUTBOUND_OFF;
    else if (strcmp(v, "supported") == 0)
      cfg->outbound = SIPFLOW_REG_OUTBOUND_SUPPORTED;
    else if (strcmp(v, "required") == 0)
      cfg->outbound = SIPFLOW_REG_OUTBOUND_REQUIRED;
    else
      return bad("outbound", v);
    return 0;
  case O_KA:
    return parse_ka(v, &cfg->ka_mode) == 0 ? 0 : bad("keepalive", v);
  case O_DEAD:
    if (strcmp(v, "remove") == 0) {
      cfg->dead_contact_expire = -1;
      return 0;
    }
    if (strncmp(v, "expire:", 7) == 0 && parse_u32(v + 7, &n) == 0 &&
        n <= 86400) {
      cfg->dead_contact_expire = (int)n;
      return 0;
    }
    return bad("dead-contact", v);
  case O_TOKEN_KEY:
    if (strlen(v) >= sizeof(cfg->token_key_file))
      return bad("token-key", v);
    strcpy(cfg->token_key_file, v);
    return 0;
  case O_CONTROL:
    if (strlen(v) >= sizeof(cfg->control_path) || strlen(v) >= 100)
      return bad("control", v);
    strcpy(cfg->control_path, v);
    return 0;
  case O_STATE:
    if (strlen(v) >= sizeof(cfg->state_file))
      return bad("state", v);
    strcpy(cfg->state_file, v);
    return 0;
  case O_REDIS:
    if (strlen(v) >= sizeof(cfg->redis_url))
      return bad("redis", v);
    strcpy(cfg->redis_url, v);
    return 0;
  case O_NODE_ID:
    if (!*v || strlen(v) >= sizeof(cfg->node_id))
      return bad("node-id", v);
    strcpy(cfg->node_id, v);
    return 0;
  case O_REDIS_SENTINEL:
    if (!*v || strlen(v) >= sizeof(cfg->redis_sentinels))
      return bad("redis-sentinel", v);
    strcpy(cfg->redis_sentinels, v);
    if (!cfg->redis_url[0])
      strcpy(cfg->redis_url, "redis://127.0.0.1"); /* found through them */
    return 0;
  case O_REDIS_MASTER:
    if (!*v || strlen(v) >= sizeof(cfg->redis_master))
      return bad("redis-master", v);
    strcpy(cfg->redis_master, v);
    return 0;
  case O_LOG_LEVEL:
    cfg->log_level = parse_log_level(v);
    return cfg->log_level >= 0 ? 0 : bad("log-level", v);
  case O_AUTH:
    if (strcmp(v, "off") == 0)
      cfg->auth_mode = PX_AUTH_OFF;
    else if (strcmp(v, "register") == 0)
      cfg->auth_mode = PX_AUTH_REGISTER;
    else if (strcmp(v, "all") == 0)
      cfg->auth_mode = PX_AUTH_ALL;
    else
      return bad("auth", v);
    return 0;
  case O_AUTH_FILE:
    if (strlen(v) >= sizeof(cfg->auth_file))
      return bad("auth-file", v);
    strcpy(cfg->auth_file, v);
    return 0;
  case O_PUSH_WEBHOOK:
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
      return bad("push-webhook", v);
    if (strlen(v) >= sizeof(cfg->push_webhook))
      return bad("push-webhook", v);
    strcpy(cfg->push_webhook, v);
    return 0;
  case O_PUSH_PROVIDERS:
    if (!*v || strlen(v) >= sizeof(cfg->push_providers))
      return bad("push-providers", v);
    strcpy(cfg->push_providers, v);
    return 0;
  case O_AUTH_DB:
    if (strlen(v) >= sizeof(cfg->auth_db))
      return bad("auth-db", v);
    strcpy(cfg->auth_db, v);
    return 0;
  case O_AUTH_REALM:
    if (!*v || strlen(v) >= sizeof(cfg->auth_realm) || strchr(v, '"'))
      return bad("auth-realm", v);
    strcpy(cfg->auth_realm, v);
    return 0;
  case O_AUTH_ALGS:
    if (strcmp(v, "sha-256,md5") == 0)
      strcpy(cfg->auth_algs, "SM");
    else if (strcmp(v, "md5,sha-256") == 0)
      strcpy(cfg->auth_algs, "MS");
    else if (strcmp(v, "sha-256") == 0)
      strcpy(cfg->auth_algs, "S");
    else if (strcmp(v, "md5") == 0)
      strcpy(cfg->auth_algs, "M");
    else
      return bad("auth-algorithms", v);
    return 0;
  default:
    break;
  }
  if (parse_u32(v, &n) != 0)
    return bad(options[opt - O_LISTEN].name, v);
  switch (opt) {
  case O_FLOW_TIMER:
    cfg->flow_timer = n;
    break;
  case O_MIN_EXP:
    cfg->min_expires = n;
    break;
  case O_MAX_EXP:
    cfg->max_expires = n;
    break;
  case O_DEF_EXP:
    cfg->default_expires = n;
    break;
  case O_MAX_CONTACTS:
    cfg->max_contacts = n;
    break;
  case O_KA_INTERVAL:
    cfg->ka_interval = n ? n : 1;
    break;
  case O_KA_TIMEOUT:
    cfg->ka_timeout = n ? n : 1;
    break;
  case O_KA_MISSES:
    cfg->ka_misses = n ? n : 1;
    break;
  case O_TXN_TIMEOUT:
    cfg->txn_timeout_ms = n ? n : 1;
    break;
  case O_UDP_FLOW_IDLE:
    cfg->udp_flow_idle = n;
    break;
  case O_MAX_FLOWS:
    cfg->max_flows = n;
    break;
  case O_RX_COALESCE:
    if (n > 100)
      return bad("rx-coalesce-ms", v);
    cfg->rx_coalesce_ms = n;
    break;
  case O_MAX_SEND_QUEUE:
    cfg->max_send_queue = n;
    break;
  case O_MAX_BINDINGS:
    cfg->max_bindings = n;
    break;
  case O_PUSH_REFRESH:
    cfg->push_refresh = n;
    break;
  case O_PUSH_WAIT:
    if (n == 0 || n > 300)
      return bad("push-wait", v);
    cfg->push_wait = n;
    break;
  case O_PUSH_MAX_HELD:
    if (n == 0 || n > 1000000)
      return bad("push-max-held", v);
    cfg->push_max_held = n;
    break;
  case O_PUSH_MAX_RECENT:
    if (n == 0 || n > 1000000)
      return bad("push-max-recent", v);
    cfg->push_max_recent = n;
    break;
  case O_REGISTER_RATE:
    cfg->register_rate = n;
    break;
  case O_REGISTER_BURST:
    cfg->register_burst = n ? n : 1;
    break;
  case O_TCP_HELLO:
    cfg->tcp_hello_timeout = n;
    break;
  case O_MAX_CONNS_SRC:
    cfg->max_conns_per_source = n;
    break;
  case O_AUTH_NONCE_TTL:
    cfg->auth_nonce_ttl = n ? n : 1;
    break;
  case O_AUTH_NONCES:
    if (n == 0 || n > 16777216)
      return bad("auth-nonces", v);
    cfg->auth_nonces = n;
    break;
  default:
    return -1;
  }
  return 0;
}

int px_config_parse(px_config *cfg, int argc, char **argv) {
  int opt;
  config_defaults(cfg);
  optind = 1;
  while ((opt = getopt_long(argc, argv, "hV", options, NULL)) != -1) {
    if (opt == 'V') {
      printf("sipflow-proxy %s\n", sipflow_version(0)->version_str);
      exit(0);
    }
    if (opt == 'h' || opt == O_HELP) {
      px_usage(stdout);
      exit(0);
    }
    if (opt == '?' || apply(cfg, opt, optarg) != 0)
      return -1;
  }
  if (optind < argc) {
    fprintf(stderr, "sipflow-proxy: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (cfg->nlisten == 0) {
    fprintf(stderr, "sipflow-proxy: at least one --listen is needed\n");
    return -1;
  }
  if (cfg->role == PX_ROLE_EDGE && !cfg->have_registrar) {
    fprintf(stderr, "sipflow-proxy: --role edge needs --registrar\n");
    return -1;
  }
  if (cfg->redis_url[0] && (!cfg->node_id[0] || cfg->role == PX_ROLE_EDGE)) {
    fprintf(stderr, "sipflow-proxy: --redis needs --node-id and a registrar\n");
    return -1;
  }
  for (int i = 0; i < cfg->nlisten; i++) {
    int t = cfg->listen[i].transport;
    if ((t == SIPFLOW_TRANSPORT_TLS || t == SIPFLOW_TRANSPORT_WSS) &&
        (!cfg->tls_cert[0] || !cfg->tls_key[0])) {
      fprintf(stderr, "sipflow-proxy: tls: and wss: need --tls-cert and "
                      "--tls-key\n");
      return -1;
    }
  }
  if (cfg->workers > 1) {
    /* docs/proxy.md, "Using more than one core". */
    if (!cfg->redis_url[0]) {
      fprintf(stderr, "sipflow-proxy: --workers needs --redis (the store "
                      "between workers)\n");
      return -1;
    }
    if (strlen(cfg->node_id) + 3 >= sizeof(cfg->node_id)) {
      fprintf(stderr, "sipflow-proxy: --workers: --node-id too long for "
                      "ID.N\n");
      return -1;
    }
    if (!cfg->token_key_file[0] || cfg->state_file[0]) {
      fprintf(stderr, "sipflow-proxy: --workers needs --token-key (one key "
                      "ring for all) and no --state\n");
      return -1;
    }
    if (cfg->nlisten + 2 > PX_MAX_LISTENERS ||
        cfg->npeers + (int)cfg->workers - 1 > PX_MAX_PEERS ||
        (cfg->worker_port && cfg->worker_port + cfg->workers - 1 > 65535)) {
      fprintf(stderr,
              "sipflow-proxy: --workers %u: too many listeners, "
              "peers or ports\n",
              (unsigned)cfg->workers);
      return -1;
    }
  }
  if (cfg->min_expires > cfg->max_expires) {
    fprintf(stderr, "sipflow-proxy: --min-expires above --max-expires\n");
    return -1;
  }
  return 0;
}
