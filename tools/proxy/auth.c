/*
 * sipflow-proxy: digest authentication (RFC 3261 §22) with the algorithms
 * of RFC 8760: every challenge offers SHA-256 and MD5 (in that order of
 * preference, §2.4) and an answer under either is accepted.
 *
 * - Credentials are HA1 values, never passwords: --auth-file lines
 *   "user:realm:HA1-MD5[:HA1-SHA-256]" (docs/proxy.md). Lines of another
 *   realm are skipped, so one file may serve several servers. And/or an
 *   SQLite table (--auth-db), read at each authentication, so users added
 *   there count at once.
 * - Nonces are stateless and can't be forged: issue time and a sequence
 *   number, MACed (HMAC-SHA-512-256, libsodium) under a key derived from
 *   the token key ring's current key (or made at start-up when the ring
 *   has none of this process's own), so workers and nodes sharing a
 *   --token-key file verify each other's nonces. One that has aged past
 *   --auth-nonce-ttl gets 401 stale=true.
 * - Replays: each nonce's sequence number names a slot in a table of
 *   --auth-nonces entries holding the highest nonce-count seen; a count
 *   not above it is refused. A nonce whose slot a later nonce took is
 *   stale: memory stays bounded whatever the rate of challenges. Each
 *   process starts its sequence at a random number, so a nonce another
 *   process issued (another worker, a node, this one before a restart)
 *   never finds its slot here: stale, never a replay window.
 * - Hashes: SHA-256 from libsodium; MD5, which libsodium lacks, from
 *   sofia-sip (su_md5), already linked for parsing. Digest fields are read
 *   by sofia-sip's auth_digest_response_get().
 * - Why not sofia-sip's auth_module: it offers MD5 only (no RFC 8760), and
 *   it runs its nonce timers on an su_root, which this libuv program does
 *   not have.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <sqlite3.h>
#include <uthash.h>

#include <sofia-sip/auth_digest.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su_md5.h>

#include "proxy.h"

#define NONCE_RAW 32 /* issued (8), sequence (8), MAC (16) */
#define NONCE_MAC 16
#define HEX_MD5 32
#define HEX_SHA256 64

typedef struct cred {
  char *user;
  char ha1_md5[HEX_MD5 + 1];
  char ha1_sha256[HEX_SHA256 + 1]; /* "" when the file gives none */
  UT_hash_handle hh;
} cred;

typedef struct nonce_slot {
  uint64_t seq;
  uint32_t nc; /* highest nonce-count accepted */
} nonce_slot;

struct px_auth {
  cred *creds;
  sqlite3 *db;        /* --auth-db, or NULL */
  sqlite3_stmt *find; /* its user look-up */
  cred found;         /* what the look-up found */
  char realm[256];
  uint8_t key[crypto_auth_KEYBYTES];
  uint64_t next_seq;
  nonce_slot *slots;
  uint32_t nslots;
};

enum { ALG_MD5, ALG_SHA256 };

/* 'S' SHA-256, 'M' MD5, in the order offered. */
static const char *offered(const px *p) {
  return p->cfg.auth_algs[0] ? p->cfg.auth_algs : "SM";
}

/* ---- hashes --------------------------------------------------------------
 */

static void hex_lower(const uint8_t *in, size_t n, char *out) {
  sodium_bin2hex(out, 2 * n + 1, in, n);
}

/* H(a ":" b ":" ...) in lower-case hex, for up to 6 parts. */
static void hash_parts(int alg, char *out, const char *const *parts, int n) {
  if (alg == ALG_SHA256) {
    crypto_hash_sha256_state st;
    uint8_t d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    for (int i = 0; i < n; i++) {
      if (i)
        crypto_hash_sha256_update(&st, (const uint8_t *)":", 1);
      crypto_hash_sha256_update(&st, (const uint8_t *)parts[i],
                                strlen(parts[i]));
    }
    crypto_hash_sha256_final(&st, d);
    hex_lower(d, sizeof(d), out);
  } else {
    su_md5_t md5;
    uint8_t d[SU_MD5_DIGEST_SIZE];
    su_md5_init(&md5);
    for (int i = 0; i < n; i++) {
      if (i)
        su_md5_update(&md5, ":", 1);
      su_md5_update(&md5, parts[i], strlen(parts[i]));
    }
    su_md5_digest(&md5, d);
    su_md5_deinit(&md5);
    hex_lower(d, sizeof(d), out);
  }
}

/* ---- the credentials file ------------------------------------------------
 */

static int is_hex(const char *s, size_t n) {
  if (strlen(s) != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

static void lower(char *s) {
  for (; *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

/* 1: a credential of our realm added; 0: skipped (comment, other realm,
 * duplicate); -1: malformed. */
static int add_line(struct px_auth *a, char *line) {
  char *f[4] = {NULL, NULL, NULL, NULL};
  int n = 0;
  cred *c;
  line[strcspn(line, "\r\n")] = '\0';
  if (!line[0] || line[0] == '#')
    return 0;
  for (char *s = line; n < 4; n++) {
    f[n] = s;
    s = strchr(s, ':');
    if (!s) {
      n++;
      break;
    }
    *s++ = '\0';
  }
  if (n < 3 || !f[0][0] || !is_hex(f[2], HEX_MD5) ||
      (f[3] && f[3][0] && !is_hex(f[3], HEX_SHA256)))
    return -1;
  if (strcmp(f[1], a->realm) != 0)
    return 0;
  HASH_FIND_STR(a->creds, f[0], c);
  if (c)
    return 0; /* the first line for a user wins */
  if (!(c = calloc(1, sizeof(*c))) || !(c->user = strdup(f[0]))) {
    free(c);
    return -1;
  }
  memcpy(c->ha1_md5, f[2], HEX_MD5 + 1);
  lower(c->ha1_md5);
  if (f[3] && f[3][0]) {
    memcpy(c->ha1_sha256, f[3], HEX_SHA256 + 1);
    lower(c->ha1_sha256);
  }
  HASH_ADD_KEYPTR(hh, a->creds, c->user, strlen(c->user), c);
  return 1;
}

static int load_file(px *p, struct px_auth *a, const char *path) {
  FILE *f = fopen(path, "r");
  char line[1024];
  unsigned users = 0, skipped = 0, lineno = 0;
  if (!f) {
    fprintf(stderr, "sipflow-proxy: --auth-file %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  while (fgets(line, sizeof(line), f)) {
    int rv;
    lineno++;
    rv = add_line(a, line);
    if (rv < 0) {
      fprintf(stderr, "sipflow-proxy: %s:%u: not user:realm:HA1[:HA1]\n", path,
              lineno);
      fclose(f);
      return -1;
    }
    if (rv > 0)
      users++;
    else if (line[0] && line[0] != '#')
      skipped++;
  }
  fclose(f);
  px_log(p, SIPFLOW_LOG_INFO,
         "auth: %u users of realm \"%s\" from %s (%u lines skipped: other "
         "realms or repeated users)",
         users, a->realm, path, skipped);
  return 0;
}

/* ---- set-up --------------------------------------------------------------
 */

static void free_auth(struct px_auth *a) {
  cred *c, *tmp;
  if (!a)
    return;
  HASH_ITER(hh, a->creds, c, tmp) {
    HASH_DEL(a->creds, c);
    sodium_memzero(c->ha1_md5, sizeof(c->ha1_md5));
    sodium_memzero(c->ha1_sha256, sizeof(c->ha1_sha256));
    free(c->user);
    free(c);
  }
  sodium_memzero(a->key, sizeof(a->key));
  sodium_memzero(&a->found, sizeof(a->found));
  sqlite3_finalize(a->find);
  sqlite3_close(a->db);
  free(a->slots);
  free(a);
}

#define DB_SCHEMA                                                              \
  "CREATE TABLE sipflow_auth (username TEXT NOT NULL, realm TEXT NOT NULL, "   \
  "ha1_md5 TEXT NOT NULL, ha1_sha256 TEXT, PRIMARY KEY (username, realm))"

/* Read-only: the operator's tools write the table; a writer does not hold
 * up a reader in WAL mode, and 50 ms of a rollback-journal lock at most. */
static int open_db(px *p, struct px_auth *a, const char *path) {
  if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
      sqlite3_busy_timeout(a->db, 50) != SQLITE_OK ||
      sqlite3_prepare_v2(a->db,
                         "SELECT ha1_md5, ha1_sha256 FROM sipflow_auth "
                         "WHERE username = ?1 AND realm = ?2",
                         -1, &a->find, NULL) != SQLITE_OK) {
    fprintf(stderr,
            "sipflow-proxy: --auth-db %s: %s (it needs the table: %s)\n", path,
            a->db ? sqlite3_errmsg(a->db) : "out of memory", DB_SCHEMA);
    return -1;
  }
  px_log(p, SIPFLOW_LOG_INFO, "auth: users of realm \"%s\" also from %s",
         a->realm, path);
  return 0;
}

/* The user's credentials from the table: 1 found, 0 not, -1 error. */
static int db_lookup(px *p, struct px_auth *a, const char *user, cred **out) {
  const unsigned char *md5, *sha;
  int rv;
  sqlite3_reset(a->find);
  sqlite3_bind_text(a->find, 1, user, -1, SQLITE_STATIC);
  sqlite3_bind_text(a->find, 2, a->realm, -1, SQLITE_STATIC);
  rv = sqlite3_step(a->find);
  if (rv == SQLITE_DONE) {
    sqlite3_reset(a->find);
    return 0;
  }
  if (rv != SQLITE_ROW) {
    px_log_net(p, SIPFLOW_LOG_ERROR, "auth: --auth-db: %s",
               sqlite3_errmsg(a->db));
    sqlite3_reset(a->find);
    return -1;
  }
  md5 = sqlite3_column_text(a->find, 0);
  sha = sqlite3_column_text(a->find, 1);
  rv = 0;
  if (md5 && is_hex((const char *)md5, HEX_MD5) &&
      (!sha || !sha[0] || is_hex((const char *)sha, HEX_SHA256))) {
    memcpy(a->found.ha1_md5, md5, HEX_MD5 + 1);
    lower(a->found.ha1_md5);
    a->found.ha1_sha256[0] = '\0';
    if (sha && sha[0]) {
      memcpy(a->found.ha1_sha256, sha, HEX_SHA256 + 1);
      lower(a->found.ha1_sha256);
    }
    *out = &a->found;
    rv = 1;
  } else {
    px_log_net(p, SIPFLOW_LOG_WARN, "auth: --auth-db: bad HA1 for %s", user);
  }
  sqlite3_reset(a->find);
  return rv;
}

static void warn_open(px *p) {
  px_log(p, SIPFLOW_LOG_WARN,
         "auth: OFF. Anyone who can reach this server can register as any "
         "user, and replace or remove any user's bindings. Give --auth-file "
         "(docs/proxy.md, \"Authentication\").");
}

/* The nonce key: derived (BLAKE2b keyed by it) from the ring's current
 * key when that key is one of this process's own (read from --token-key
 * or made at start-up), so every worker or node sharing the --token-key
 * file MACs nonces alike; random when the current key came from elsewhere
 * (restored from --state). */
static void nonce_key(const px *p, uint8_t key[crypto_auth_KEYBYTES]) {
  static const char label[] = "sipflow-proxy digest nonces";
  uint8_t current;
  if (p->keyring && sipflow_keyring_get_current(p->keyring, &current) == 0)
    for (int i = 0; i < p->n_own_keys; i++)
      if (p->own_keys[i].id == current) {
        crypto_generichash(key, crypto_auth_KEYBYTES, (const uint8_t *)label,
                           sizeof(label) - 1, p->own_keys[i].key,
                           sizeof(p->own_keys[i].key));
        return;
      }
  crypto_auth_keygen(key);
}

int px_auth_open(px *p) {
  struct px_auth *a;
  uint64_t seq;
  const char *realm = p->cfg.auth_realm;
  int mode = p->cfg.auth_mode;
  int creds = p->cfg.auth_file[0] || p->cfg.auth_db[0];
  if (mode == PX_AUTH_DEFAULT)
    mode = creds ? PX_AUTH_REGISTER : PX_AUTH_OFF;
  if (p->cfg.role == PX_ROLE_EDGE) {
    /* The registrar challenges; its 401 and the retried REGISTER pass. */
    if (creds || mode != PX_AUTH_OFF)
      px_log(p, SIPFLOW_LOG_WARN,
             "auth: ignored by an edge: the registrar behind it "
             "authenticates, this edge passes challenges and credentials");
    return 0;
  }
  if (mode == PX_AUTH_OFF) {
    warn_open(p);
    return 0;
  }
  if (!creds) {
    fprintf(stderr, "sipflow-proxy: --auth needs --auth-file or --auth-db\n");
    return -1;
  }
  if (!realm[0])
    realm = p->cfg.ndomains            ? p->cfg.domains[0]
            : p->cfg.advertise_host[0] ? p->cfg.advertise_host
                                       : "sipflow";
  if (!(a = calloc(1, sizeof(*a))) ||
      !(a->slots = calloc(p->cfg.auth_nonces, sizeof(*a->slots)))) {
    free_auth(a);
    return -1;
  }
  a->nslots = p->cfg.auth_nonces;
  snprintf(a->realm, sizeof(a->realm), "%s", realm);
  nonce_key(p, a->key);
  randombytes_buf(&seq, sizeof(seq));
  a->next_seq = (seq >> 2) + 1; /* never 0 (an empty slot), never wraps */
  if ((p->cfg.auth_file[0] && load_file(p, a, p->cfg.auth_file) != 0) ||
      (p->cfg.auth_db[0] && open_db(p, a, p->cfg.auth_db) != 0)) {
    free_auth(a);
    return -1;
  }
  p->auth = a;
  p->auth_all = mode == PX_AUTH_ALL;
  px_log(p, SIPFLOW_LOG_INFO,
         "auth: digest (%s) for %s, realm \"%s\", nonces valid %u s, %u "
         "tracked",
         strcmp(offered(p), "SM") == 0   ? "SHA-256, MD5"
         : strcmp(offered(p), "MS") == 0 ? "MD5, SHA-256"
         : offered(p)[0] == 'S'          ? "SHA-256"
                                         : "MD5",
         mode == PX_AUTH_ALL ? "REGISTER and requests from our users"
                             : "REGISTER",
         a->realm, (unsigned)p->cfg.auth_nonce_ttl, (unsigned)a->nslots);
  return 0;
}

void px_auth_close(px *p) {
  free_auth(p->auth);
  p->auth = NULL;
}

/* ---- nonces --------------------------------------------------------------
 */

static uint64_t now_s(void) { return sipflow_uv_now() / SIPFLOW_SECONDS; }

static void put_u64(uint8_t *b, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    b[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | b[i];
  return v;
}

static void mac(const struct px_auth *a, const uint8_t *msg16, uint8_t *out) {
  uint8_t full[crypto_auth_BYTES];
  crypto_auth(full, msg16, 16, a->key);
  memcpy(out, full, NONCE_MAC);
}

static void new_nonce(struct px_auth *a, char *out, size_t cap) {
  uint8_t raw[NONCE_RAW];
  uint64_t seq = a->next_seq++;
  put_u64(raw, now_s());
  put_u64(raw + 8, seq);
  mac(a, raw, raw + 16);
  a->slots[seq % a->nslots].seq = seq;
  a->slots[seq % a->nslots].nc = 0;
  sodium_bin2base64(out, cap, raw, sizeof(raw),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

enum { NONCE_OK, NONCE_BAD, NONCE_STALE };

static int check_nonce(const px *p, const char *nonce, uint64_t *seq) {
  const struct px_auth *a = p->auth;
  uint8_t raw[NONCE_RAW], want[NONCE_MAC];
  size_t len = 0;
  uint64_t issued;
  if (strlen(nonce) > 64 ||
      sodium_base642bin(raw, sizeof(raw), nonce, strlen(nonce), NULL, &len,
                        NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      len != sizeof(raw))
    return NONCE_BAD;
  mac(a, raw, want);
  if (sodium_memcmp(want, raw + 16, NONCE_MAC) != 0)
    return NONCE_BAD;
  issued = get_u64(raw);
  *seq = get_u64(raw + 8);
  if (issued > now_s() || now_s() - issued > p->cfg.auth_nonce_ttl ||
      a->slots[*seq % a->nslots].seq != *seq)
    return NONCE_STALE;
  return NONCE_OK;
}

/* ---- answers -------------------------------------------------------------
 */

/* One challenge per algorithm offered, the preferred first (RFC 8760
 * §2.4), all with the same nonce. */
static void challenge(px *p, int proxy, int stale, px_auth_answer *out) {
  struct px_auth *a = p->auth;
  const char *hdr = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
  char nonce[64];
  size_t off = 0;
  new_nonce(a, nonce, sizeof(nonce));
  out->status = proxy ? 407 : 401;
  out->phrase = NULL;
  out->extra[0] = '\0';
  for (const char *alg = offered(p); *alg && off < sizeof(out->extra); alg++)
    off +=
        (size_t)snprintf(out->extra + off, sizeof(out->extra) - off,
                         "%s: Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", "
                         "algorithm=%s%s\r\n",
                         hdr, a->realm, nonce, *alg == 'S' ? "SHA-256" : "MD5",
                         stale ? ", stale=true" : "");
  p->stats.auth_challenges++;
  if (stale)
    p->stats.auth_stale++;
}

static int refuse(px *p, int status, const char *phrase, px_auth_answer *out) {
  out->status = status;
  out->phrase = phrase;
  out->extra[0] = '\0';
  p->stats.auth_failed++;
  return -1;
}

static const char *unquote(char *buf, size_t cap, const char *v);

/* sofia-sip leaves quotes on some values: compare without them. The realm
 * is a quoted string, compared as is; algorithm and qop are tokens,
 * compared without regard to case. */
static int eq_unquoted(const char *v, const char *want) {
  return v && auth_strcmp(v, want) == 0;
}

static int eq_token(const char *v, const char *want) {
  char buf[32];
  return unquote(buf, sizeof(buf), v) && strcasecmp(buf, want) == 0;
}

static const char *unquote(char *buf, size_t cap, const char *v) {
  size_t n;
  if (!v)
    return NULL;
  n = strlen(v);
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
    v++;
    n -= 2;
  }
  if (n >= cap)
    return NULL;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return buf;
}

/* The Digest credentials for our realm among |au|'s, parsed into |ar|. */
static int find_credentials(px *p, su_home_t *home, msg_auth_t *au,
                            auth_response_t *ar) {
  for (; au; au = au->au_next) {
    if (!au->au_scheme || strcasecmp(au->au_scheme, "Digest") != 0)
      continue;
    memset(ar, 0, sizeof(*ar));
    ar->ar_size = sizeof(*ar);
    if (auth_digest_response_get(home, ar, au->au_params) < 0)
      continue;
    if (eq_unquoted(ar->ar_realm, p->auth->realm))
      return 0;
  }
  return -1;
}

static int parse_nc(const char *s, uint32_t *nc) {
  char *end;
  unsigned long v;
  if (!s || strlen(s) != 8)
    return -1;
  v = strtoul(s, &end, 16);
  if (*end || v == 0)
    return -1;
  *nc = (uint32_t)v;
  return 0;
}

static int check(px *p, msg_t *msg, int proxy, const url_t *id,
                 px_auth_answer *out) {
  sip_t *sip = sip_object(msg);
  struct px_auth *a = p->auth;
  msg_auth_t *creds = proxy ? (msg_auth_t *)sip->sip_proxy_authorization
                            : (msg_auth_t *)sip->sip_authorization;
  su_home_t home[1] = {SU_HOME_INIT(home)};
  auth_response_t ar;
  char user[256], nonce[128], uri[1024], cnonce[256], given[HEX_SHA256 + 1];
  char ha2[HEX_SHA256 + 1], want[HEX_SHA256 + 1], ncbuf[16];
  const char *parts[6];
  url_t *ruri;
  cred *c;
  int alg, ns, rv = -1;
  uint64_t seq = 0;
  uint32_t nc;

  if (find_credentials(p, home, creds, &ar) != 0) {
    challenge(p, proxy, 0, out);
    goto done;
  }
  if (!unquote(user, sizeof(user), ar.ar_username) ||
      !unquote(nonce, sizeof(nonce), ar.ar_nonce) ||
      !unquote(uri, sizeof(uri), ar.ar_uri) ||
      !unquote(cnonce, sizeof(cnonce), ar.ar_cnonce) ||
      !unquote(given, sizeof(given), ar.ar_response) ||
      !unquote(ncbuf, sizeof(ncbuf), ar.ar_nc) ||
      !eq_token(ar.ar_qop, "auth") || parse_nc(ncbuf, &nc) != 0) {
    /* No qop=auth (RFC 2069 style) or a missing field: ask again. */
    challenge(p, proxy, 0, out);
    goto done;
  }
  if (!ar.ar_algorithm || eq_token(ar.ar_algorithm, "MD5"))
    alg = ALG_MD5;
  else if (eq_token(ar.ar_algorithm, "SHA-256"))
    alg = ALG_SHA256;
  else
    alg = -1; /* -sess and others are never offered */
  if (alg < 0 || !strchr(offered(p), alg == ALG_SHA256 ? 'S' : 'M')) {
    challenge(p, proxy, 0, out);
    goto done;
  }
  ns = check_nonce(p, nonce, &seq);
  if (ns == NONCE_BAD) { /* forged, or MACed under another key ring */
    challenge(p, proxy, 0, out);
    goto done;
  }
  /* A user authenticates for its own AoR only. */
  if (!id || !id->url_user || strcmp(id->url_user, user) != 0) {
    refuse(p, 403, "Forbidden", out);
    goto done;
  }
  /* The digest covers the Request-URI (RFC 3261 §22.4 step 4). */
  ruri = url_make(home, uri);
  if (!ruri || url_cmp(ruri, sip->sip_request->rq_url) != 0) {
    refuse(p, 400, "Digest URI Mismatch", out);
    goto done;
  }
  HASH_FIND_STR(a->creds, user, c);
  if (!c && a->db && db_lookup(p, a, user, &c) < 0) {
    refuse(p, 500, "Credentials Unavailable", out);
    goto done;
  }
  if (!c || (alg == ALG_SHA256 && !c->ha1_sha256[0])) {
    refuse(p, 403, "Forbidden", out);
    goto done;
  }
  parts[0] = sip->sip_request->rq_method_name;
  parts[1] = uri;
  hash_parts(alg, ha2, parts, 2);
  parts[0] = alg == ALG_SHA256 ? c->ha1_sha256 : c->ha1_md5;
  parts[1] = nonce;
  parts[2] = ncbuf;
  parts[3] = cnonce;
  parts[4] = "auth";
  parts[5] = ha2;
  hash_parts(alg, want, parts, 6);
  lower(given);
  if (strlen(given) != strlen(want) ||
      sodium_memcmp(given, want, strlen(want)) != 0) {
    refuse(p, 403, "Forbidden", out);
    goto done;
  }
  if (ns == NONCE_STALE) { /* right password, old nonce (RFC 2617 §3.2.1) */
    challenge(p, proxy, 1, out);
    goto done;
  }
  if (nc <= a->slots[seq % a->nslots].nc) { /* seen: a replay */
    p->stats.auth_replayed++;
    challenge(p, proxy, 0, out);
    goto done;
  }
  a->slots[seq % a->nslots].nc = nc;
  p->stats.auth_ok++;
  rv = 0;
done:
  su_home_deinit(home);
  if (rv != 0)
    px_log_net(p, SIPFLOW_LOG_INFO, "auth: %s %s: %d",
               sip->sip_request->rq_method_name,
               id && id->url_user ? id->url_user : "-", out->status);
  return rv;
}

int px_auth_register(px *p, msg_t *msg, px_auth_answer *out) {
  sip_t *sip = sip_object(msg);
  if (!p->auth)
    return 0;
  return check(p, msg, 0, sip->sip_to ? sip->sip_to->a_url : NULL, out);
}

int px_auth_request(px *p, px_strans *st, msg_t *msg) {
  sip_t *sip = sip_object(msg);
  px_auth_answer out;
  int m = sip->sip_request->rq_method;
  /* Requests that claim one of our users (From in a served domain) and
   * start something; ACK and CANCEL can't be challenged (§22.1). */
  if (!p->auth || !p->auth_all || !st || m == sip_method_ack ||
      m == sip_method_cancel || !sip->sip_from || !sip->sip_to ||
      sip->sip_to->a_tag || !px_domain_ok(p, sip->sip_from->a_url->url_host))
    return 0;
  if (check(p, msg, 1, sip->sip_from->a_url, &out) == 0)
    return 0;
  px_strans_respond(p, st, out.status, out.phrase,
                    out.extra[0] ? out.extra : NULL);
  return 1;
}
