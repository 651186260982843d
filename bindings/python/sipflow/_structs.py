"""ctypes mirrors of the C structs, field for field.

Every class here has the C struct's name without the ``sipflow_`` prefix and
the C member names, in the C order, with the C types: tests/test_layout.py
compiles a C program against the headers and compares ``sizeof`` and every
member's ``offsetof`` with what ctypes computes, so a header change that is
not mirrored here fails the suite instead of corrupting memory.

Version macros of the versioned structs are mirrored as ``*_VERSION``; the
binding passes them to the ``_versioned`` functions exactly as the C macros
do.
"""

import ctypes
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Optional

# Version macros (common.h, flow.h, edge.h, registrar.h, keepalive.h).
CTX_CALLBACKS_VERSION = 1
CTX_SETTINGS_VERSION = 1
FLOW_CALLBACKS_VERSION = 1
FLOW_SETTINGS_VERSION = 1
EDGE_FACTS_VERSION = 1
NAT_FACTS_VERSION = 1
REGISTRAR_SETTINGS_VERSION = 2
REGISTRAR_CALLBACKS_VERSION = 2
REG_REQUEST_VERSION = 1
KEEPALIVE_CALLBACKS_VERSION = 1
KEEPALIVE_SETTINGS_VERSION = 1
KEEPALIVE_STATS_VERSION = 1
KEEPALIVE_COUNTERS_VERSION = 1

# Sizes (token.h, stun.h, keepalive.h).
TOKEN_KEY_LEN = 32
TOKEN_BUFLEN = 79
STUN_TXID_LEN = 12
STUN_MAX_LEN = 548
STUN_MAX_UNKNOWN = 8
KEEPALIVE_MAX_CODES = 8
KEEPALIVE_OPTIONS_MAX = 512
TSTAMP_NONE = (1 << 64) - 1
REG_Q_NONE = -1

# The C macros mirrored above, by their C names: the layout test compares
# each with the header's value.
CONSTANTS = {
    "SIPFLOW_CTX_CALLBACKS_VERSION": CTX_CALLBACKS_VERSION,
    "SIPFLOW_CTX_SETTINGS_VERSION": CTX_SETTINGS_VERSION,
    "SIPFLOW_FLOW_CALLBACKS_VERSION": FLOW_CALLBACKS_VERSION,
    "SIPFLOW_FLOW_SETTINGS_VERSION": FLOW_SETTINGS_VERSION,
    "SIPFLOW_EDGE_FACTS_VERSION": EDGE_FACTS_VERSION,
    "SIPFLOW_NAT_FACTS_VERSION": NAT_FACTS_VERSION,
    "SIPFLOW_REGISTRAR_SETTINGS_VERSION": REGISTRAR_SETTINGS_VERSION,
    "SIPFLOW_REGISTRAR_CALLBACKS_VERSION": REGISTRAR_CALLBACKS_VERSION,
    "SIPFLOW_REG_REQUEST_VERSION": REG_REQUEST_VERSION,
    "SIPFLOW_KEEPALIVE_CALLBACKS_VERSION": KEEPALIVE_CALLBACKS_VERSION,
    "SIPFLOW_KEEPALIVE_SETTINGS_VERSION": KEEPALIVE_SETTINGS_VERSION,
    "SIPFLOW_KEEPALIVE_STATS_VERSION": KEEPALIVE_STATS_VERSION,
    "SIPFLOW_KEEPALIVE_COUNTERS_VERSION": KEEPALIVE_COUNTERS_VERSION,
    "SIPFLOW_TOKEN_KEY_LEN": TOKEN_KEY_LEN,
    "SIPFLOW_TOKEN_BUFLEN": TOKEN_BUFLEN,
    "SIPFLOW_STUN_TXID_LEN": STUN_TXID_LEN,
    "SIPFLOW_STUN_MAX_LEN": STUN_MAX_LEN,
    "SIPFLOW_STUN_MAX_UNKNOWN": STUN_MAX_UNKNOWN,
    "SIPFLOW_KEEPALIVE_MAX_CODES": KEEPALIVE_MAX_CODES,
    "SIPFLOW_KEEPALIVE_OPTIONS_MAX": KEEPALIVE_OPTIONS_MAX,
    "SIPFLOW_TSTAMP_NONE": TSTAMP_NONE,
    "SIPFLOW_REG_Q_NONE": REG_Q_NONE,
}

# An enum passed by value or stored in a struct is an int in C.
c_enum = c_int


# --- common.h ---------------------------------------------------------------


class addr(Structure):
    _fields_ = [
        ("family", c_uint8),
        ("bytes", c_uint8 * 16),
        ("port", c_uint16),
    ]


class flow_tuple(Structure):
    _fields_ = [
        ("transport", c_uint8),
        ("local", addr),
        ("remote", addr),
        ("generation", c_uint32),
    ]


log_cb = CFUNCTYPE(None, c_enum, c_char_p, c_void_p)
rand_cb = CFUNCTYPE(None, POINTER(c_uint8), c_size_t, c_void_p)


class ctx_callbacks(Structure):
    _fields_ = [("log", log_cb), ("rand", rand_cb)]


class ctx_settings(Structure):
    _fields_ = [
        ("log_level", c_enum),
        ("log_rate_per_second", c_uint32),
        ("hash_key", c_uint8 * 16),
    ]


class info(Structure):
    _fields_ = [
        ("age", c_int),
        ("version_num", c_uint32),
        ("version_str", c_char_p),
    ]


# --- token.h, flow.h --------------------------------------------------------


class token_info(Structure):
    _fields_ = [
        ("version", c_uint8),
        ("key_id", c_uint8),
        ("slot", c_uint32),
        ("tuple", flow_tuple),
    ]


class flow_info(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("handle", c_uint64),
        ("tuple", flow_tuple),
    ]


flow_failed_cb = CFUNCTYPE(None, c_void_p, POINTER(flow_info), c_int, c_void_p)


class flow_callbacks(Structure):
    _fields_ = [("on_flow_failed", flow_failed_cb)]


class flow_settings(Structure):
    _fields_ = [("max_flows", c_uint32)]


# --- edge.h -----------------------------------------------------------------


class edge_facts(Structure):
    _fields_ = [
        ("method", c_int),
        ("to_tag", c_uint8),
        ("via_count", c_uint32),
        ("contact_reg_id", c_uint8),
        ("contact_ob", c_uint8),
        ("no_supported_path", c_uint8),
        ("route_is_us", c_uint8),
        ("route_ob", c_uint8),
        ("route_has_user", c_uint8),
        ("token_result", c_int),
        ("token_flow", c_uint64),
        ("arrival_flow", c_uint64),
        ("token_tuple_is_arrival", c_uint8),
        ("force", c_int),
    ]


class edge_decision(Structure):
    _fields_ = [
        ("action", c_int),
        ("reason", c_int),
        ("header", c_int),
        ("direction", c_int),
        ("flow", c_uint64),
        ("record_route", c_uint8),
        ("status", c_int),
    ]


class str_(Structure):
    # ptr is not NUL-terminated: read it with ctypes.string_at(ptr, len).
    _fields_ = [("ptr", c_void_p), ("len", c_size_t)]


def str_set(target: "str_", raw: Optional[bytes]) -> object:
    """Point ``target`` at a copy of ``raw`` (None or b"": absent) and return
    the buffer, which the caller keeps alive while the C side reads it."""
    if not raw:
        target.ptr = None
        target.len = 0
        return None
    buf = ctypes.create_string_buffer(raw, len(raw))
    target.ptr = ctypes.addressof(buf)
    target.len = len(raw)
    return buf


class edge_local(Structure):
    _fields_ = [
        ("host", str_),
        ("port", c_uint16),
        ("transport", c_uint8),
    ]


class nat_facts(Structure):
    _fields_ = [
        ("transport", c_uint8),
        ("source", addr),
        ("via", addr),
        ("via_rport", c_uint8),
        ("contact", c_uint8),
        ("contact_addr", addr),
    ]


# --- registrar.h ------------------------------------------------------------


class registrar_settings(Structure):
    _fields_ = [
        ("outbound", c_enum),
        ("min_expires", c_uint32),
        ("max_expires", c_uint32),
        ("default_expires", c_uint32),
        ("reject_below_min", c_int),
        ("max_contacts", c_uint32),
        ("overflow", c_enum),
        ("too_many_contacts_status", c_int),
        ("allow_repeated_cseq", c_int),
        ("dead_flow", c_enum),
        ("dead_flow_expires", c_uint32),
        ("flow_timer", c_uint32),
        ("path_ob", c_enum),
        ("path_requires_supported", c_int),
        ("flow_order", c_enum),
        ("max_aor_len", c_uint32),
        ("max_uri_len", c_uint32),
        ("max_instance_len", c_uint32),
        ("max_call_id_len", c_uint32),
        ("max_path_entries", c_uint32),
        ("max_path_len", c_uint32),
        ("max_params_len", c_uint32),
        ("max_user_agent_len", c_uint32),
        ("max_contacts_per_request", c_uint32),
        ("max_bindings", c_uint64),
        ("push_providers", str_),
        ("push_refresh", c_uint32),
    ]


class reg_binding(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("aor", str_),
        ("uri", str_),
        ("instance", str_),
        ("reg_id", c_uint32),
        ("q", c_int32),
        ("call_id", str_),
        ("cseq", c_uint32),
        ("path", str_),
        ("n_path", c_uint32),
        ("params", str_),
        ("user_agent", str_),
        ("flow_id", c_uint64),
        ("flow", flow_tuple),
        ("received", addr),
        ("health", c_enum),
        ("outbound", c_int),
        ("ob", c_int),
        ("expires_at", c_uint64),
        ("updated_at", c_uint64),
        ("expires", c_uint32),
        ("prev_flow_id", c_uint64),
        ("pub_gruu", str_),
        ("temp_gruu", str_),
        ("pn_provider", str_),
        ("pn_param", str_),
        ("pn_prid", str_),
        ("push", c_int),
        ("suspended", c_int),
    ]


reg_change_cb = CFUNCTYPE(None, c_void_p, c_enum, POINTER(reg_binding), c_void_p)
reg_visit_cb = CFUNCTYPE(c_int, POINTER(reg_binding), c_void_p)


reg_push_cb = CFUNCTYPE(None, c_void_p, c_enum, POINTER(reg_binding), c_void_p)


class registrar_callbacks(Structure):
    _fields_ = [("on_change", reg_change_cb), ("on_push", reg_push_cb)]


class reg_contact(Structure):
    _fields_ = [
        ("uri", str_),
        ("instance", str_),
        ("reg_id", str_),
        ("expires", str_),
        ("q", c_int32),
        ("ob", c_int),
        ("params", str_),
    ]


class reg_request(Structure):
    _fields_ = [
        ("aor", str_),
        ("call_id", str_),
        ("cseq", c_uint32),
        ("has_expires", c_int),
        ("expires", c_uint32),
        ("wildcard", c_int),
        ("contacts", POINTER(reg_contact)),
        ("n_contacts", c_size_t),
        ("path", POINTER(str_)),
        ("n_path", c_size_t),
        ("supported", c_uint),
        ("require", c_uint),
        ("require_unknown", POINTER(str_)),
        ("n_require_unknown", c_size_t),
        ("via_count", c_uint32),
        ("flow_id", c_uint64),
        ("flow", flow_tuple),
        ("user_agent", str_),
        ("received", addr),
    ]


class reg_result(Structure):
    _fields_ = [
        ("status", c_int),
        ("reason", c_char_p),
        ("min_expires", c_uint32),
        ("unsupported", c_uint),
        ("unsupported_unknown", c_int),
        ("require", c_uint),
        ("supported", c_uint),
        ("flow_timer", c_uint32),
        ("echo_path", c_int),
        ("contacts", POINTER(reg_binding)),
        ("n_contacts", c_size_t),
        ("pns", str_),
        ("pnsreg", c_uint32),
    ]


class reg_branch(Structure):
    _fields_ = [
        ("id", c_uint32),
        ("group", c_uint32),
        ("binding", POINTER(reg_binding)),
        ("push", c_int),
    ]


# --- keepalive.h ------------------------------------------------------------


class keepalive_endpoint(Structure):
    _fields_ = [
        ("flow_id", c_uint64),
        ("tuple", flow_tuple),
        ("method", c_uint8),
        ("interval", c_uint64),
        ("user_data", c_void_p),
        ("request_uri", str_),
    ]


class keepalive_probe(Structure):
    _fields_ = [
        ("method", c_uint8),
        ("attempt", c_uint32),
        ("data", POINTER(c_uint8)),
        ("len", c_size_t),
        ("probe_id", c_uint64),
        ("tuple", POINTER(flow_tuple)),
    ]


class keepalive_state_change(Structure):
    _fields_ = [
        ("event", c_uint8),
        ("old_health", c_uint8),
        ("health", c_uint8),
        ("consecutive_misses", c_uint32),
        ("mapped", POINTER(addr)),
    ]


ka_send_cb = CFUNCTYPE(
    c_int, c_void_p, c_uint64, POINTER(keepalive_probe), c_void_p, c_void_p
)
ka_rtt_cb = CFUNCTYPE(None, c_void_p, c_uint64, c_uint64, c_void_p, c_void_p)
ka_state_cb = CFUNCTYPE(
    None, c_void_p, c_uint64, POINTER(keepalive_state_change), c_void_p, c_void_p
)
ka_removed_cb = CFUNCTYPE(None, c_void_p, c_uint64, c_int, c_void_p, c_void_p)


class keepalive_callbacks(Structure):
    _fields_ = [
        ("send_probe", ka_send_cb),
        ("on_rtt", ka_rtt_cb),
        ("on_state", ka_state_cb),
        ("on_removed", ka_removed_cb),
    ]


class keepalive_settings(Structure):
    _fields_ = [
        ("udp_interval", c_uint64),
        ("stream_interval", c_uint64),
        ("pong_timeout", c_uint64),
        ("options_timeout", c_uint64),
        ("stun_rto", c_uint64),
        ("stun_rc", c_uint32),
        ("stun_rm", c_uint32),
        ("passive_grace", c_uint64),
        ("dead_after", c_uint32),
        ("tentative_timeout", c_uint64),
        ("max_probes_per_second", c_uint32),
        ("max_endpoints", c_uint32),
        ("remove_dead", c_uint8),
        ("options_not_alive", c_uint16 * KEEPALIVE_MAX_CODES),
    ]


class keepalive_stats(Structure):
    _fields_ = [
        ("method", c_uint8),
        ("health", c_uint8),
        ("probe_in_flight", c_uint8),
        ("probing", c_uint8),
        ("consecutive_misses", c_uint32),
        ("reasons", c_uint32),
        ("probes_sent", c_uint32),
        ("probes_answered", c_uint32),
        ("probes_missed", c_uint32),
        ("interval", c_uint64),
        ("last_rtt", c_uint64),
        ("srtt", c_uint64),
        ("rttvar", c_uint64),
        ("min_rtt", c_uint64),
        ("max_rtt", c_uint64),
        ("last_sent", c_uint64),
        ("last_answer", c_uint64),
        ("next_event", c_uint64),
        ("user_data", c_void_p),
    ]


class keepalive_counters(Structure):
    _fields_ = [
        ("endpoints", c_uint64),
        ("probing", c_uint64),
        ("registrations", c_uint64),
        ("subscriptions", c_uint64),
        ("dialogs", c_uint64),
        ("others", c_uint64),
        ("tentative", c_uint64),
        ("probes_sent", c_uint64 * 7),
        ("probes_answered", c_uint64),
        ("probes_missed", c_uint64),
        ("stun_retransmissions", c_uint64),
        ("send_failures", c_uint64),
        ("rejected_answers", c_uint64),
        ("unexpected_pongs", c_uint64),
        ("peer_keepalives", c_uint64),
        ("suspects", c_uint64),
        ("deaths", c_uint64),
        ("rebinds", c_uint64),
        ("revivals", c_uint64),
        ("expired", c_uint64),
        ("removed", c_uint64),
        ("deferred", c_uint64),
    ]


class keepalive_saved_reason(Structure):
    _fields_ = [
        ("kind", c_uint8),
        ("id", c_uint64),
        ("expires_unix", c_uint64),
    ]


class keepalive_options_request(Structure):
    _fields_ = [
        ("probe_id", c_uint64),
        ("transport", c_uint8),
        ("local", addr),
        ("remote", addr),
        ("request_uri", str_),
        ("route", str_),
        ("from_user", str_),
        ("max_forwards", c_uint8),
    ]


# --- stun.h, framer.h -------------------------------------------------------


class stun_msg(Structure):
    _fields_ = [
        ("type", c_uint16),
        ("method", c_uint16),
        ("cls", c_uint8),
        ("txid", c_uint8 * STUN_TXID_LEN),
        ("has_xor_mapped", c_uint8),
        ("has_mapped", c_uint8),
        ("has_integrity", c_uint8),
        ("has_fingerprint", c_uint8),
        ("xor_mapped", addr),
        ("mapped", addr),
        ("error_code", c_uint16),
        ("n_unknown", c_uint16),
        ("unknown", c_uint16 * STUN_MAX_UNKNOWN),
        ("length", c_size_t),
    ]


class frame(Structure):
    _fields_ = [
        ("type", c_enum),
        ("data", POINTER(c_uint8)),
        ("len", c_size_t),
        ("body_offset", c_size_t),
    ]


# Every mirrored struct, by its C name: the layout test walks this.
ALL = {
    "sipflow_addr": addr,
    "sipflow_flow_tuple": flow_tuple,
    "sipflow_ctx_callbacks": ctx_callbacks,
    "sipflow_ctx_settings": ctx_settings,
    "sipflow_info": info,
    "sipflow_token_info": token_info,
    "sipflow_flow_info": flow_info,
    "sipflow_flow_callbacks": flow_callbacks,
    "sipflow_flow_settings": flow_settings,
    "sipflow_edge_facts": edge_facts,
    "sipflow_edge_decision": edge_decision,
    "sipflow_edge_local": edge_local,
    "sipflow_nat_facts": nat_facts,
    "sipflow_str": str_,
    "sipflow_registrar_settings": registrar_settings,
    "sipflow_reg_binding": reg_binding,
    "sipflow_registrar_callbacks": registrar_callbacks,
    "sipflow_reg_contact": reg_contact,
    "sipflow_reg_request": reg_request,
    "sipflow_reg_result": reg_result,
    "sipflow_reg_branch": reg_branch,
    "sipflow_keepalive_endpoint": keepalive_endpoint,
    "sipflow_keepalive_probe": keepalive_probe,
    "sipflow_keepalive_state_change": keepalive_state_change,
    "sipflow_keepalive_callbacks": keepalive_callbacks,
    "sipflow_keepalive_settings": keepalive_settings,
    "sipflow_keepalive_stats": keepalive_stats,
    "sipflow_keepalive_counters": keepalive_counters,
    "sipflow_keepalive_saved_reason": keepalive_saved_reason,
    "sipflow_keepalive_options_request": keepalive_options_request,
    "sipflow_stun_msg": stun_msg,
    "sipflow_frame": frame,
}
