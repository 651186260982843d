/*
 * sipflow-ping: the command line and the target URI.
 *
 * Only IP literals are accepted as hosts: the tool resolves no names (no
 * DNS, no RFC 3263 NAPTR/SRV), so what is pinged is exactly what was typed.
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sipflow/keepalive.h>

#include "ping.h"

/* The scheduler keeps intervals in 100 ms steps up to 6553.5 s. */
#define MIN_INTERVAL (100 * SIPFLOW_MILLISECONDS)
#define MAX_INTERVAL (65535 * 100 * SIPFLOW_MILLISECONDS)
#define MAX_TIMEOUT (3600 * SIPFLOW_SECONDS)

void ping_usage(FILE *out) {
  fprintf(out,
          "usage: sipflow-ping [-c COUNT] [-i INTERVAL] [-m options|crlf|stun]"
          " [-W TIMEOUT]\n"
          "       sipflow-ping -h | --help | -V | --version\n"
          "                    sip:host[:port][;transport=udp|tcp]\n"
          "  -c COUNT     stop after COUNT probes (default: until SIGINT)\n"
          "  -i INTERVAL  seconds between probes, 0.1 to 6553.5 (default 1);\n"
          "               each wait is drawn in 80-100%% of it\n"
          "  -m METHOD    options (default, any transport), crlf (tcp),"
          " stun (udp)\n"
          "  -W TIMEOUT   seconds to wait for each answer (default 1)\n"
          "  -h, --help   print this help and exit\n"
          "  -V, --version  print the version and exit\n"
          "host is an IPv4 address or an IPv6 address in brackets: names are"
          " not resolved.\n");
}

const char *ping_method_name(int method) {
  switch (method) {
  case SIPFLOW_KEEPALIVE_CRLF:
    return "crlf";
  case SIPFLOW_KEEPALIVE_STUN:
    return "stun";
  default:
    return "options";
  }
}

/* Seconds as a decimal number into nanoseconds within [lo, hi]. */
static int parse_seconds(const char *s, sipflow_duration lo,
                         sipflow_duration hi, sipflow_duration *out) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < 0 ||
      v > (double)hi / 1e9)
    return -1;
  *out = (sipflow_duration)llround(v * 1e9);
  return *out >= lo ? 0 : -1;
}

static int parse_count(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v == 0 || v > UINT32_MAX)
    return -1;
  *out = v;
  return 0;
}

static int parse_method(const char *s) {
  if (strcmp(s, "options") == 0)
    return SIPFLOW_KEEPALIVE_OPTIONS;
  if (strcmp(s, "crlf") == 0)
    return SIPFLOW_KEEPALIVE_CRLF;
  if (strcmp(s, "stun") == 0)
    return SIPFLOW_KEEPALIVE_STUN;
  return -1;
}

/* Characters allowed in the URI: RFC 3261's unreserved, escaped and the
 * delimiters of a SIP URI; nothing that could break the request line. */
static int uri_chars_ok(const char *s) {
  for (; *s; s++)
    if (!(*s >= '!' && *s <= '~') || *s == '<' || *s == '>' || *s == '"')
      return 0;
  return 1;
}

/* "transport=udp;lr" ... : only transport is read, the rest is sent on. */
static int parse_params(const char *p, int *transport, FILE *err) {
  while (p && *p == ';') {
    const char *end = strchr(p + 1, ';');
    size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
    if (n > 10 && strncasecmp(p + 1, "transport=", 10) == 0) {
      int t = sipflow_transport_parse(p + 11, n - 10);
      if (t != SIPFLOW_TRANSPORT_UDP && t != SIPFLOW_TRANSPORT_TCP) {
        fprintf(err, "sipflow-ping: transport=%.*s: only udp and tcp\n",
                (int)(n - 10), p + 11);
        return -1;
      }
      *transport = t;
    }
    p = end;
  }
  return 0;
}

/* sip:[user@]host[:port][;params] */
static int parse_uri(ping_args *a, const char *uri, FILE *err) {
  char host[64];
  const char *h, *hend, *params;
  unsigned long port = 5060;
  size_t hlen;
  if (strlen(uri) >= sizeof(a->uri) || !uri_chars_ok(uri) ||
      strncasecmp(uri, "sip:", 4) != 0 || strchr(uri, '?')) {
    fprintf(err, "sipflow-ping: %s: not a sip: URI sipflow-ping can use\n",
            uri);
    return -1;
  }
  snprintf(a->uri, sizeof(a->uri), "%s", uri);
  h = uri + 4;
  params = strchr(h, ';');
  if ((hend = strchr(h, '@')) && (!params || hend < params))
    h = hend + 1; /* the user part only goes into the Request-URI */
  if (*h == '[') {
    hend = strchr(h, ']');
    hend = hend ? hend + 1 : h;
  } else {
    hend = h + strcspn(h, ":;");
  }
  hlen = (size_t)(hend - h);
  if (hlen == 0 || hlen >= sizeof(host)) {
    fprintf(err, "sipflow-ping: %s: no host\n", uri);
    return -1;
  }
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  if (*hend == ':') {
    char *pend = (char *)hend + 1;
    port = *pend >= '0' && *pend <= '9' ? strtoul(pend, &pend, 10) : 0;
    if (port == 0 || port > 65535 || (*pend && *pend != ';')) {
      fprintf(err, "sipflow-ping: %s: bad port\n", uri);
      return -1;
    }
  }
  if (sipflow_addr_parse(&a->dst, host, (uint16_t)port) != 0) {
    fprintf(err,
            "sipflow-ping: %s: not an IP address (names are not resolved)\n",
            host);
    return -1;
  }
  return parse_params(strchr(hend, ';'), &a->transport, err);
}

/* crlf is for streams and stun for UDP (RFC 5626 §4.4.1, §4.4.2); without
 * a transport parameter, crlf picks the only transport it works on. */
static int check_method(ping_args *a, int transport_given, FILE *err) {
  if (!transport_given)
    a->transport = a->method == SIPFLOW_KEEPALIVE_CRLF ? SIPFLOW_TRANSPORT_TCP
                                                       : SIPFLOW_TRANSPORT_UDP;
  if (a->method == SIPFLOW_KEEPALIVE_CRLF &&
      a->transport != SIPFLOW_TRANSPORT_TCP) {
    fprintf(err, "sipflow-ping: -m crlf needs transport=tcp\n");
    return -1;
  }
  if (a->method == SIPFLOW_KEEPALIVE_STUN &&
      a->transport != SIPFLOW_TRANSPORT_UDP) {
    fprintf(err, "sipflow-ping: -m stun needs transport=udp\n");
    return -1;
  }
  return 0;
}

int ping_args_parse(ping_args *a, int argc, char **argv, FILE *err) {
  int c;
  memset(a, 0, sizeof(*a));
  a->interval = SIPFLOW_SECONDS;
  a->timeout = SIPFLOW_SECONDS;
  a->method = SIPFLOW_KEEPALIVE_OPTIONS;
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                           {"version", no_argument, NULL, 'V'},
                                           {NULL, 0, NULL, 0}};
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:i:m:W:hV", longopts, NULL)) != -1) {
    int bad = 0;
    switch (c) {
    case 'c':
      bad = parse_count(optarg, &a->count);
      break;
    case 'i':
      bad = parse_seconds(optarg, MIN_INTERVAL, MAX_INTERVAL, &a->interval);
      break;
    case 'W':
      bad =
          parse_seconds(optarg, SIPFLOW_MILLISECONDS, MAX_TIMEOUT, &a->timeout);
      break;
    case 'm':
      bad = (a->method = parse_method(optarg)) < 0;
      break;
    case 'h':
      return 1;
    case 'V':
      return 2;
    default:
      fprintf(err, "sipflow-ping: unknown option or missing value\n");
      return -1;
    }
    if (bad) {
      fprintf(err, "sipflow-ping: -%c %s: bad value\n", c, optarg);
      return -1;
    }
  }
  if (optind != argc - 1) {
    fprintf(err, "sipflow-ping: give exactly one sip: URI\n");
    return -1;
  }
  a->transport = 0;
  if (parse_uri(a, argv[optind], err) != 0)
    return -1;
  return check_method(a, a->transport != 0, err);
}
