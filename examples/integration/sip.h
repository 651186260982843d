/*
 * The SIP the integration examples do themselves, on sofia-sip's parser
 * (through libsipflow-sofia): responses, Via and Route edits, addresses of
 * URIs. Just enough for stateless forwarding and a small fork; a real host
 * has its own stack (sipflow-proxy's is in tools/proxy/).
 *
 * Copyright (c) 2026 the libsipflow authors. MIT licence, see LICENSE.
 */
#ifndef EXAMPLES_SIP_H
#define EXAMPLES_SIP_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include <sipflow/sipflow.h>
#include <sipflow/sipflow_sofia.h>

#include "host.h"

/* A key ring with one fresh key, under id 1, current. A cluster shares
 * its keys and a restart keeps them (docs/tokens.md); this run's copy of
 * the key is wiped once the ring has it. */
int keys_new(sipflow_keyring **pkr, sipflow_ctx *ctx);

/* Parse a datagram sipflow_datagram_classify() called SIP; NULL if it is
 * malformed (the caller drops it). Free with msg_destroy(). */
msg_t *sip_parse(const uint8_t *data, size_t len);

/* The whole message as text, malloc'd. */
char *sip_bytes(msg_t *msg, size_t *len);

/* A response to |req| as text, malloc'd: its Vias, From, To (with a tag),
 * Call-ID and CSeq, then |extra| (header lines, each ending "\r\n"). */
char *sip_response(msg_t *req, int status, const char *extra, size_t *len);

/* Answer |req| over |sock| to |to| (its source: RFC 3581 for everyone).
 * An ACK is never answered. */
void sip_reply(host_udp *sock, const sipflow_addr *to, msg_t *req, int status,
               const char *extra);

/* Send |msg| as it is now to |to|. */
int sip_send(host_udp *sock, const sipflow_addr *to, msg_t *msg);

/* Before forwarding: Max-Forwards down by one (a SIP status, 483, when it
 * was 0) and our Via on top with |branch|. 0 or a SIP status. */
int sip_forward_prepare(msg_t *msg, const sipflow_addr *us, const char *branch);

/* The branch of the top Via if its sent-by is |us| and the branch starts
 * with |prefix| (then the Via is removed): a pointer into |buf|, else NULL. */
const char *sip_pop_own_via(msg_t *resp, const sipflow_addr *us,
                            const char *prefix, char *buf, size_t len);

/* Where a response goes next: the top Via's received and rport, else its
 * sent-by. */
int sip_via_addr(msg_t *resp, sipflow_addr *to);

/* The address a SIP URI names (an IP literal; no DNS in the examples). */
int sip_url_addr(const url_t *url, sipflow_addr *addr);
/* Whether a SIP URI names |us|. */
int sip_url_is(const url_t *url, const sipflow_addr *us);

/* "HOST:PORT" (IPv6 in brackets) into |addr|. */
int sip_parse_hostport(const char *s, sipflow_addr *addr);
/* |addr| as "HOST:PORT" (IPv6 in brackets) into |buf|. */
const char *sip_hostport(const sipflow_addr *addr, char *buf, size_t len);

/* Header edits. */
void sip_pop_route(msg_t *msg);
int sip_set_request_uri(msg_t *msg, const char *uri);
/* Put a stored Path vector ("<a>, <b>") before any Route (RFC 3327 §5.4). */
int sip_prepend_routes(msg_t *msg, const char *path);
/* Append a header line ("Flow-Timer: 25"), parsed by sofia. */
int sip_add_header(msg_t *msg, const char *line);

/* Put the token of |flow| in |ft| on top of the Path or Record-Route
 * (|header|, a sipflow_edge_header) as "<sip:TOKEN@us;lr>", with ";ob" if
 * asked (RFC 5626 §5). */
int sip_add_token(msg_t *msg, const sipflow_flow_table *ft,
                  sipflow_flow_id flow, const sipflow_addr *us, int header,
                  int ob);

/* What sipflow_edge_decide() needs to know about a request that arrived
 * over UDP |flow| from |from| at our address |us|: libsipflow-sofia reads
 * it, once told whether the top Route names us, and looks up its token. */
void sip_edge_facts(msg_t *msg, const sipflow_flow_table *ft,
                    const sipflow_addr *us, sipflow_flow_id flow,
                    const sipflow_addr *from, sipflow_edge_facts *f);

/* An ACK for a non-2xx final response |resp| to the request |req| this
 * proxy sent (RFC 3261 §17.1.1.3), as text, malloc'd. */
char *sip_ack(msg_t *req, msg_t *resp, size_t *len);
/* A CANCEL for the request |req| this proxy sent (RFC 3261 §9.1). */
char *sip_cancel(msg_t *req, size_t *len);

#endif
