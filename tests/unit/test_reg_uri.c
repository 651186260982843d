/*
 * Registrar URI rules (white box): RFC 3261 §19.1.4 URI equality, the
 * §10.3 step 5 canonical AoR, RFC 5626 §4.1 instance-id equality and the
 * ";ob" check on Path values.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "registrar_int.h"

typedef struct uri_row {
  const char *rfc;
  const char *a, *b;
  bool equal;
} uri_row;

static const uri_row uri_rows[] = {
    /* The RFC's own examples. */
    {"RFC 3261 §19.1.4 example", "sip:%61lice@atlanta.com;transport=TCP",
     "sip:alice@AtLanTa.CoM;Transport=tcp", true},
    {"RFC 3261 §19.1.4 example", "sip:carol@chicago.com",
     "sip:carol@chicago.com;newparam=5", true},
    {"RFC 3261 §19.1.4 example", "sip:carol@chicago.com",
     "sip:carol@chicago.com;security=on", true},
    {"RFC 3261 §19.1.4 example", "sip:carol@chicago.com;newparam=5",
     "sip:carol@chicago.com;security=on", true},
    {"RFC 3261 §19.1.4 example",
     "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
     true},
    {"RFC 3261 §19.1.4 example",
     "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x", true},
    {"RFC 3261 §19.1.4 example: userinfo case",
     "SIP:ALICE@AtLanTa.CoM;Transport=udp",
     "sip:alice@AtLanTa.CoM;Transport=UDP", false},
    {"RFC 3261 §19.1.4 example: port", "sip:bob@biloxi.com",
     "sip:bob@biloxi.com:5060", false},
    {"RFC 3261 §19.1.4 example: transport", "sip:bob@biloxi.com",
     "sip:bob@biloxi.com;transport=udp", true},
    {"RFC 3261 §19.1.4 example: port and transport", "sip:bob@biloxi.com",
     "sip:bob@biloxi.com:6000;transport=tcp", false},
    {"RFC 3261 §19.1.4 example: header", "sip:carol@chicago.com",
     "sip:carol@chicago.com?Subject=next%20meeting", false},
    {"RFC 3261 §19.1.4 example: address", "sip:bob@phone21.boxesbybob.com",
     "sip:bob@192.0.2.4", false},
    {"RFC 3261 §19.1.4 example: not transitive",
     "sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off",
     false},
    /* The rules the examples do not show. */
    {"RFC 3261 §19.1.4: user= on one side only", "sip:+1234@example.com",
     "sip:+1234@example.com;user=phone", false},
    {"RFC 3261 §19.1.4: maddr on one side only", "sip:a@example.com",
     "sip:a@example.com;maddr=10.0.0.1", false},
    {"RFC 3261 §19.1.4: ttl on one side only", "sip:a@example.com;ttl=5",
     "sip:a@example.com", false},
    {"RFC 3261 §19.1.4: method on one side only",
     "sip:a@example.com;method=INVITE", "sip:a@example.com", false},
    {"RFC 3261 §19.1.4: parameter order", "sip:a@h;lr;transport=tcp",
     "sip:a@h;transport=TCP;lr", true},
    {"RFC 3261 §19.1.4: escaped reserved character differs",
     "sip:a%3Bb@example.com", "sip:a;b@example.com", false},
    {"RFC 3261 §19.1.4: escaped unreserved character equal",
     "sip:a%2Db@example.com", "sip:a-b@example.com", true},
    {"RFC 3261 §19.1.4: password is userinfo", "sip:a:Secret@example.com",
     "sip:a:secret@example.com", false},
    {"RFC 3261 §19.1.4: sip and sips differ", "sip:a@example.com",
     "sips:a@example.com", false},
    {"RFC 3261 §19.1.4: IPv6 reference case", "sip:a@[2001:DB8::1]:5070",
     "sip:a@[2001:db8::1]:5070", true},
    {"RFC 3261 §19.1.4: header only one side", "sip:a@example.com?x=1&y=2",
     "sip:a@example.com?x=1", false},
    {"RFC 3986 §6.2.2.1: other schemes compare exactly but the scheme",
     "MAILTO:carol@chicago.com", "mailto:carol@chicago.com", true},
    {"RFC 3986 §6.2.2.1: other schemes are case-sensitive",
     "mailto:Carol@chicago.com", "mailto:carol@chicago.com", false},
};

Test(reg_uri, equality_follows_rfc3261_19_1_4) {
  for (size_t i = 0; i < sizeof(uri_rows) / sizeof(uri_rows[0]); i++) {
    const uri_row *r = &uri_rows[i];
    bool ab = sipflow__reg_uri_equal(r->a, strlen(r->a), r->b, strlen(r->b));
    bool ba = sipflow__reg_uri_equal(r->b, strlen(r->b), r->a, strlen(r->a));
    cr_expect_eq(ab, r->equal, "%s: %s vs %s", r->rfc, r->a, r->b);
    cr_expect_eq(ba, ab, "%s: not symmetric", r->rfc);
  }
}

typedef struct canon_row {
  const char *rfc;
  const char *in, *out; /* out NULL = malformed */
} canon_row;

static const canon_row canon_rows[] = {
    {"RFC 3261 §10.3 step 5: parameters removed, user= too",
     "sip:Alice@Example.COM;user=phone;transport=tcp", "sip:Alice@example.com"},
    {"RFC 3261 §10.3 step 5: escapes decoded, headers dropped",
     "SIP:%61lice@example.com:05060?x=y", "sip:alice@example.com:5060"},
    {"RFC 3261 §10.3 step 5: sips kept apart", "SIPS:bob@[2001:DB8::1]",
     "sips:bob@[2001:db8::1]"},
    {"RFC 3261 §10.3 step 5: a domain AoR", "sip:Example.com",
     "sip:example.com"},
    {"RFC 3261 §10.3 step 5: maddr, lr, ob and transport all dropped",
     "sip:alice@192.0.2.1:5060;maddr=192.0.2.9;lr;ob;transport=udp",
     "sip:alice@192.0.2.1:5060"},
    {"RFC 3261 §19.1.4: the port stays (no port is not 5060); the host maps "
     "its own address:port to its domain (docs/registrar.md)",
     "sip:alice@127.0.0.1:5060", "sip:alice@127.0.0.1:5060"},
    {"RFC 3261 §10.3 step 5: an escaped user=phone number",
     "sip:%2B15551234@Example.com;user=phone", "sip:+15551234@example.com"},
    {"RFC 3261 §10.3 step 5: only SIP and SIPS", "tel:+15551234", NULL},
    {"RFC 3261 §19.1.1: empty host", "sip:", NULL},
    {"RFC 3261 §19.1.1: empty user", "sip:@example.com", NULL},
    {"RFC 3261 §19.1.1: user without host", "sip:alice@", NULL},
    {"RFC 3261 §19.1.1: name-addr is not a URI", "<sip:a@example.com>", NULL},
    {"RFC 3261 §19.1.1: port out of range", "sip:a@example.com:99999", NULL},
    {"RFC 3261 §19.1.1: empty parameter", "sip:a@example.com;", NULL},
    {"RFC 3261 §19.1.1: space", "sip:a b@example.com", NULL},
    {"RFC 3261 §19.1.1: empty headers", "sip:a@example.com?", NULL},
    {"RFC 3261 §19.1.1: broken escape", "sip:a%4@example.com", NULL},
    {"RFC 3261 §19.1.1: unclosed IPv6", "sip:a@[::1", NULL},
};

Test(reg_uri, aor_canonical_form_follows_rfc3261_10_3_step5) {
  for (size_t i = 0; i < sizeof(canon_rows) / sizeof(canon_rows[0]); i++) {
    const canon_row *r = &canon_rows[i];
    char out[128];
    size_t len = 0;
    int rv = sipflow__reg_aor_canon(r->in, strlen(r->in), out, &len);
    if (!r->out) {
      cr_expect_eq(rv, SIPFLOW_ERR_MALFORMED, "%s: %s", r->rfc, r->in);
      continue;
    }
    cr_expect_eq(rv, 0, "%s: %s", r->rfc, r->in);
    cr_expect_eq(len, strlen(r->out), "%s: %s", r->rfc, r->in);
    cr_expect(len <= strlen(r->in), "%s: canonical form grew", r->rfc);
    cr_expect_eq(memcmp(out, r->out, len), 0, "%s: got %.*s", r->rfc, (int)len,
                 out);
  }
}

typedef struct inst_row {
  const char *rfc;
  const char *a, *b;
  bool equal;
} inst_row;

#define UUID_LOWER "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
#define UUID_UPPER "urn:uuid:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"

static const inst_row inst_rows[] = {
    {"RFC 5626 §4.1 / RFC 4122 §3: uuid hex ignores case",
     "\"<" UUID_LOWER ">\"", "\"<" UUID_UPPER ">\"", true},
    {"RFC 2141 §5: scheme and NID ignore case",
     "<URN:UUID:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", "<" UUID_LOWER ">",
     true},
    {"RFC 2141 §5: NSS is case-sensitive", "urn:foo:ABC", "urn:foo:abc", false},
    {"RFC 2141 §5: NID ignores case", "urn:FOO:abc", "urn:foo:abc", true},
    {"RFC 2141 §5: escape hex ignores case", "urn:foo:a%2Cb", "urn:foo:a%2cb",
     true},
    {"RFC 2141 §5: escapes are not decoded", "urn:foo:a%2Cb", "urn:foo:a,b",
     false},
    {"RFC 5626 §4.1: different uuid", "<" UUID_LOWER ">",
     "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf7>", false},
    {"checklist 11.18: quoting varies between UAs", "<" UUID_LOWER ">",
     "  \"<" UUID_UPPER ">\" ", true},
    {"checklist 11.18: bare URN", UUID_LOWER, "\"<" UUID_LOWER ">\"", true},
    {"RFC 2141 §2: different NID", "urn:foo:x", "urn:bar:x", false},
};

static bool strip_equal(const char *a, const char *b, bool *ok) {
  const char *sa, *sb;
  size_t la, lb;
  *ok = sipflow__reg_instance_strip(a, strlen(a), &sa, &la) == 0 &&
        sipflow__reg_instance_strip(b, strlen(b), &sb, &lb) == 0;
  return *ok && sipflow__reg_instance_equal(sa, la, sb, lb);
}

Test(reg_uri, instance_equality_follows_urn_rules) {
  for (size_t i = 0; i < sizeof(inst_rows) / sizeof(inst_rows[0]); i++) {
    const inst_row *r = &inst_rows[i];
    bool ok;
    cr_expect_eq(strip_equal(r->a, r->b, &ok), r->equal, "%s: %s vs %s", r->rfc,
                 r->a, r->b);
    cr_expect(ok, "%s: did not parse", r->rfc);
  }
}

static const char *const bad_instances[] = {
    "",            /* RFC 5626 §4.1: empty */
    "\"\"",        /* quoted empty */
    "<>",          /* bracketed empty */
    "\"<>\"",      /* both */
    "uuid:1234",   /* RFC 5626 §4.1: must be a URN */
    "urn:",        /* RFC 2141 §2: no NID */
    "urn::x",      /* empty NID */
    "urn:foo:",    /* empty NSS */
    "urn:foo:a b", /* space in NSS */
    "<urn:foo:a",  /* unbalanced */
    "urn:-foo:a",  /* NID starts with a letter or digit */
    "urn:abcdefghijklmnopqrstuvwxyz0123456:x", /* NID over 32 */
    "urn:foo:a%4",                             /* broken escape */
};

Test(reg_uri, instance_values_that_are_not_urns_are_rejected) {
  for (size_t i = 0; i < sizeof(bad_instances) / sizeof(bad_instances[0]);
       i++) {
    const char *out;
    size_t len;
    cr_expect_eq(sipflow__reg_instance_strip(
                     bad_instances[i], strlen(bad_instances[i]), &out, &len),
                 SIPFLOW_ERR_MALFORMED, "accepted %s", bad_instances[i]);
  }
}

typedef struct ob_row {
  const char *path;
  bool ob;
} ob_row;

Test(reg_uri, path_ob_is_a_uri_parameter_rfc5626_5_1) {
  static const ob_row rows[] = {
      {"<sip:VskztcQ%2F%2Fqt6a@ep1.example.com;lr;ob>", true},
      {"<sip:ep1.example.com;lr>", false},
      {"sip:ep1.example.com;lr;ob", true},
      {"\"Edge\" <sip:ep1.example.com;lr;OB>", true},
      {"<sip:ep1.example.com;lr;obx>", false},
      {"<sip:ep1.example.com;lr>;ob", false}, /* a header parameter */
      {"<sip:ep1.example.com;lr;ob", false},  /* unbalanced */
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    cr_expect_eq(sipflow__reg_path_has_ob(rows[i].path, strlen(rows[i].path)),
                 rows[i].ob, "%s", rows[i].path);
}

Test(reg_uri, contact_uris_of_other_schemes_are_storable) {
  cr_expect(sipflow__reg_uri_valid("mailto:carol@chicago.com", 24));
  cr_expect(sipflow__reg_uri_valid("sip:a@b", 7));
  cr_expect_not(sipflow__reg_uri_valid("mailto:", 7));
  cr_expect_not(sipflow__reg_uri_valid("1abc:x", 6));
  cr_expect_not(sipflow__reg_uri_valid("<sip:a@b>", 9));
  cr_expect_not(sipflow__reg_uri_valid("sip:a@b\r\nX: y", 13));
}
