"""Finding, loading and describing the shared library.

Search order (docs/python.md):
1. a path given to :func:`load_library`, or the environment variable
   ``SIPFLOW_LIBRARY`` (a file, or a directory holding the library);
2. ``pkg-config --variable=libdir sipflow``;
3. :func:`ctypes.util.find_library` (``ldconfig`` and the usual paths).

The library is loaded on first use, so a program may call
:func:`load_library` with its own path before anything else.
"""

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import threading
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_uint, c_uint8
from ctypes import c_int32, c_uint16, c_uint32, c_uint64, c_void_p
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _structs as S

#: The SONAME suffix of the library this binding was written for
#: ("0.MINOR" while the major version is 0).
SONAME = "0.2"
#: The oldest library version (0xMMmmpp) the binding accepts.
MIN_VERSION = 0x000200

_P = POINTER
_vp = c_void_p
_u8p = _P(c_uint8)
_szp = _P(c_size_t)

# name: (restype, argtypes). Functions returning nothing have restype None.
_PROTOTYPES: Dict[str, Tuple[Any, List[Any]]] = {
    # common.h
    "sipflow_strerror": (c_char_p, [c_int]),
    "sipflow_err_name": (c_char_p, [c_int]),
    "sipflow_err_is_fatal": (c_int, [c_int]),
    "sipflow_ms_until": (c_uint64, [c_uint64, c_uint64]),
    "sipflow_ns_until_armed": (c_uint64, [c_uint64, c_uint64]),
    "sipflow_log_level_name": (c_char_p, [c_int]),
    "sipflow_family_name": (c_char_p, [c_int]),
    "sipflow_health_name": (c_char_p, [c_int]),
    "sipflow_keepalive_method_name": (c_char_p, [c_int]),
    "sipflow_keepalive_reason_name": (c_char_p, [c_int]),
    "sipflow_keepalive_event_name": (c_char_p, [c_int]),
    "sipflow_keepalive_removal_name": (c_char_p, [c_int]),
    "sipflow_reg_change_name": (c_char_p, [c_int]),
    "sipflow_change_kind_name": (c_char_p, [c_int]),
    "sipflow_change_op_name": (c_char_p, [c_int]),
    "sipflow_frame_type_name": (c_char_p, [c_int]),
    "sipflow_edge_method_name": (c_char_p, [c_int]),
    "sipflow_edge_header_name": (c_char_p, [c_int]),
    "sipflow_edge_direction_name": (c_char_p, [c_int]),
    "sipflow_addr_parse": (c_int, [_P(S.addr), c_char_p, c_uint16]),
    "sipflow_addr_format": (c_int, [_P(S.addr), c_char_p, c_size_t]),
    "sipflow_addr_equal": (c_int, [_P(S.addr), _P(S.addr)]),
    "sipflow_transport_name": (c_char_p, [c_int]),
    "sipflow_transport_parse": (c_int, [c_char_p, c_size_t]),
    "sipflow_transport_is_stream": (c_int, [c_int]),
    "sipflow_ctx_settings_default_versioned": (None, [c_int, _P(S.ctx_settings)]),
    "sipflow_ctx_new_versioned": (
        c_int,
        [_P(_vp), c_int, _P(S.ctx_callbacks), c_int, _P(S.ctx_settings), _vp, _vp],
    ),
    "sipflow_ctx_del": (None, [_vp]),
    "sipflow_ctx_get_expiry": (c_uint64, [_vp]),
    "sipflow_ctx_handle_expiry": (c_int, [_vp, c_uint64]),
    "sipflow_version": (_P(S.info), [c_uint32]),
    # token.h
    "sipflow_keyring_new": (c_int, [_P(_vp), _vp]),
    "sipflow_keyring_del": (None, [_vp]),
    "sipflow_keyring_add": (c_int, [_vp, c_uint8, _u8p, c_size_t]),
    "sipflow_keyring_remove": (c_int, [_vp, c_uint8]),
    "sipflow_keyring_set_current": (c_int, [_vp, c_uint8]),
    "sipflow_keyring_get_current": (c_int, [_vp, _u8p]),
    "sipflow_keyring_has": (c_int, [_vp, c_uint8]),
    "sipflow_token_key_generate": (c_int, [_u8p, c_size_t]),
    "sipflow_token_mint": (
        c_int,
        [_vp, _P(S.flow_tuple), c_char_p, c_size_t, _szp],
    ),
    "sipflow_token_verify": (c_int, [_vp, c_char_p, c_size_t, _P(S.token_info)]),
    "sipflow_token_sip_status": (c_int, [c_int]),
    # flow.h
    "sipflow_flow_end_reason_name": (c_char_p, [c_int]),
    "sipflow_flow_settings_default_versioned": (None, [c_int, _P(S.flow_settings)]),
    "sipflow_flow_table_new_versioned": (
        c_int,
        [
            _P(_vp),
            _vp,
            _vp,
            c_int,
            _P(S.flow_callbacks),
            c_int,
            _P(S.flow_settings),
            _vp,
        ],
    ),
    "sipflow_flow_table_del": (None, [_vp]),
    "sipflow_flow_add": (
        c_int,
        [_vp, _P(S.flow_tuple), c_uint64, c_uint64, _P(c_uint64)],
    ),
    "sipflow_flow_end": (c_int, [_vp, c_uint64, c_int, c_uint64]),
    "sipflow_flow_token": (c_int, [_vp, c_uint64, c_char_p, c_size_t, _szp]),
    "sipflow_flow_lookup": (c_int, [_vp, c_char_p, c_size_t, _P(S.flow_info)]),
    "sipflow_flow_get": (c_int, [_vp, c_uint64, _P(S.flow_info)]),
    "sipflow_flow_find": (c_int, [_vp, _P(S.flow_tuple), _P(c_uint64)]),
    "sipflow_flow_next": (c_int, [_vp, c_uint64, _P(S.flow_info)]),
    "sipflow_flow_count": (c_size_t, [_vp]),
    "sipflow_flow_tuple_same": (c_int, [_P(S.flow_tuple), _P(S.flow_tuple)]),
    # edge.h
    "sipflow_edge_method_parse": (c_int, [c_char_p, c_size_t]),
    "sipflow_edge_facts_default_versioned": (None, [c_int, _P(S.edge_facts)]),
    "sipflow_edge_decide_versioned": (
        c_int,
        [c_int, _P(S.edge_facts), _P(S.edge_decision)],
    ),
    "sipflow_edge_reason_str": (c_char_p, [c_int]),
    "sipflow_edge_action_name": (c_char_p, [c_int]),
    "sipflow_edge_format_uri": (
        c_int,
        [_P(S.edge_local), c_char_p, c_size_t, c_uint, c_char_p, c_size_t, _szp],
    ),
    "sipflow_nat_facts_default_versioned": (None, [c_int, _P(S.nat_facts)]),
    "sipflow_nat_detect_versioned": (c_int, [c_int, _P(S.nat_facts), _P(c_uint)]),
    "sipflow_nat_is_private": (c_int, [_P(S.addr)]),
    # registrar.h
    "sipflow_registrar_settings_default_versioned": (
        None,
        [c_int, _P(S.registrar_settings)],
    ),
    "sipflow_registrar_new_versioned": (
        c_int,
        [
            _P(_vp),
            _vp,
            c_int,
            _P(S.registrar_callbacks),
            c_int,
            _P(S.registrar_settings),
            _vp,
        ],
    ),
    "sipflow_registrar_del": (None, [_vp]),
    "sipflow_registrar_binding_count": (c_size_t, [_vp]),
    "sipflow_registrar_aor_count": (c_size_t, [_vp]),
    "sipflow_registrar_foreach": (c_int, [_vp, c_uint64, S.reg_visit_cb, _vp]),
    "sipflow_reg_contact_default": (None, [_P(S.reg_contact)]),
    "sipflow_reg_request_default": (None, [_P(S.reg_request)]),
    "sipflow_reg_q_parse": (c_int, [c_char_p, c_size_t, _P(c_int32)]),
    "sipflow_reg_contact_parse": (
        c_int,
        [c_char_p, c_size_t, _P(S.reg_contact), c_char_p, c_size_t, _szp],
    ),
    "sipflow_reg_answer_format": (
        c_int,
        [_P(S.reg_result), _P(S.reg_request), c_char_p, c_size_t, _szp],
    ),
    "sipflow_registrar_process_versioned": (
        c_int,
        [_vp, c_int, _P(S.reg_request), c_uint64, _P(_P(S.reg_result))],
    ),
    "sipflow_registrar_flow_failed": (c_int, [_vp, c_uint64, c_uint64]),
    "sipflow_registrar_flow_health": (c_int, [_vp, c_uint64, c_int, c_uint64]),
    "sipflow_registrar_flow_binding_count": (c_size_t, [_vp, c_uint64]),
    "sipflow_registrar_binding_failed": (c_int, [_vp, S.str_, c_uint64,
                                                 c_uint64]),
    "sipflow_registrar_lookup": (c_int, [_vp, S.str_, c_uint64, _P(_vp)]),
    "sipflow_registrar_set_gruu": (c_int, [_vp, _vp]),
    "sipflow_registrar_gruu": (c_int, [_vp, _P(S.reg_binding), c_char_p,
                                       c_size_t, _P(S.str_), _P(S.str_)]),
    "sipflow_registrar_lookup_gruu": (c_int, [_vp, S.str_, c_uint64,
                                              _P(_vp)]),
    "sipflow_reg_gruu_status": (c_int, [c_int]),
    "sipflow_reg_uri_is_gruu": (c_int, [S.str_]),
    "sipflow_registrar_lookup_batch": (c_int, [_vp, _P(S.str_), c_size_t,
                                               c_uint64, _P(_vp), _P(c_int)]),
    "sipflow_reg_plan_next_group": (
        c_int,
        [_vp, _P(_P(S.reg_branch)), _szp],
    ),
    "sipflow_reg_plan_report": (
        c_int,
        [_vp, c_uint32, c_int, c_uint64, _P(_P(S.reg_branch))],
    ),
    "sipflow_reg_plan_woken": (
        c_int,
        [_vp, c_uint32, c_uint64, _P(_P(S.reg_branch))],
    ),
    "sipflow_reg_push_reason_name": (c_char_p, [c_int]),
    "sipflow_reg_plan_pending": (c_size_t, [_vp]),
    "sipflow_reg_plan_final_status": (c_int, [_vp]),
    "sipflow_reg_plan_del": (None, [_vp]),
    "sipflow_reg_response_pick": (c_int, [c_int, c_int]),
    "sipflow_reg_response_upstream": (c_int, [c_int]),
    # keepalive.h
    "sipflow_keepalive_endpoint_default": (None, [_P(S.keepalive_endpoint)]),
    "sipflow_keepalive_settings_default_versioned": (
        None,
        [c_int, _P(S.keepalive_settings)],
    ),
    "sipflow_keepalive_new_versioned": (
        c_int,
        [
            _P(_vp),
            _vp,
            c_int,
            _P(S.keepalive_callbacks),
            c_int,
            _P(S.keepalive_settings),
            _vp,
        ],
    ),
    "sipflow_keepalive_del": (None, [_vp]),
    "sipflow_keepalive_reason_set": (
        c_int,
        [_vp, _P(S.keepalive_endpoint), c_int, c_uint64, c_uint64, c_uint64],
    ),
    "sipflow_keepalive_reason_open": (
        c_int,
        [_vp, _P(S.keepalive_endpoint), c_int, c_uint64, c_uint64, c_uint64],
    ),
    "sipflow_keepalive_reason_confirm": (
        c_int,
        [_vp, c_uint64, c_int, c_uint64, c_uint, c_uint64, c_uint64],
    ),
    "sipflow_keepalive_reason_end": (
        c_int,
        [_vp, c_uint64, c_int, c_uint64, c_uint64],
    ),
    "sipflow_keepalive_remove": (c_int, [_vp, c_uint64, c_uint64]),
    "sipflow_keepalive_count": (c_size_t, [_vp]),
    "sipflow_keepalive_on_pong": (c_int, [_vp, c_uint64, c_uint64]),
    "sipflow_keepalive_awaiting_pong": (c_int, [_vp, c_uint64]),
    "sipflow_keepalive_on_ws_pong": (
        c_int,
        [_vp, c_uint64, _u8p, c_size_t, c_uint64],
    ),
    "sipflow_keepalive_on_stun": (
        c_int,
        [_vp, c_uint64, _u8p, c_size_t, c_uint64],
    ),
    "sipflow_keepalive_on_options_response": (
        c_int,
        [_vp, c_uint64, c_uint, c_uint64],
    ),
    "sipflow_keepalive_on_options_response_at": (
        c_int,
        [_vp, c_uint64, c_uint, c_uint64, c_uint64],
    ),
    "sipflow_keepalive_on_peer_keepalive": (c_int, [_vp, c_uint64, c_uint64]),
    "sipflow_keepalive_flow_failed": (c_int, [_vp, c_uint64, c_uint64]),
    "sipflow_keepalive_get_stats_versioned": (
        c_int,
        [_vp, c_uint64, c_int, _P(S.keepalive_stats)],
    ),
    "sipflow_keepalive_get_counters_versioned": (
        c_int,
        [_vp, c_int, _P(S.keepalive_counters)],
    ),
    "sipflow_keepalive_export_next": (
        c_int,
        [
            _vp,
            _P(c_uint64),
            _P(S.keepalive_endpoint),
            _P(S.keepalive_saved_reason),
            c_size_t,
            _szp,
            c_uint64,
            c_uint64,
        ],
    ),
    "sipflow_keepalive_import": (
        c_int,
        [
            _vp,
            _P(S.keepalive_endpoint),
            _P(S.keepalive_saved_reason),
            c_size_t,
            c_uint64,
            c_uint64,
        ],
    ),
    "sipflow_keepalive_options_request_default": (
        None,
        [_P(S.keepalive_options_request)],
    ),
    "sipflow_keepalive_options_build": (
        c_int,
        [_P(S.keepalive_options_request), c_char_p, c_size_t, _szp],
    ),
    "sipflow_keepalive_probe_id_parse": (c_int, [c_char_p, c_size_t, _P(c_uint64)]),
    "sipflow_keepalive_options_response_parse": (
        c_int,
        [_u8p, c_size_t, _P(c_uint64), _P(c_uint)],
    ),
    "sipflow_keep_parse": (
        c_int,
        [c_char_p, c_size_t, _P(c_int), _P(c_uint32)],
    ),
    "sipflow_keep_response_value": (
        c_int,
        [c_int, c_int, c_uint32, c_uint32, _P(c_uint32)],
    ),
    "sipflow_keep_interval": (c_uint64, [c_uint32, c_int]),
    # responder.h, stun.h
    "sipflow_datagram_classify": (c_int, [_u8p, c_size_t]),
    "sipflow_ws_message_classify": (c_int, [_u8p, c_size_t]),
    "sipflow_ws_message_name": (c_char_p, [c_int]),
    "sipflow_stun_respond": (
        c_int,
        [_u8p, c_size_t, _P(S.addr), _u8p, c_size_t, _szp],
    ),
    "sipflow_stun_is_message": (c_int, [_u8p, c_size_t]),
    "sipflow_stun_decode": (c_int, [_P(S.stun_msg), _u8p, c_size_t]),
    "sipflow_stun_encode_request": (c_int, [_u8p, c_size_t, _u8p, _szp]),
    "sipflow_stun_encode_success": (
        c_int,
        [_u8p, c_size_t, _u8p, _P(S.addr), c_int, _szp],
    ),
    "sipflow_stun_encode_error": (
        c_int,
        [_u8p, c_size_t, _u8p, c_uint, _P(c_uint16), c_size_t, c_int, _szp],
    ),
    # framer.h
    "sipflow_framer_new": (c_int, [_P(_vp), _vp, c_size_t]),
    "sipflow_framer_del": (None, [_vp]),
    "sipflow_framer_feed": (c_int, [_vp, _u8p, c_size_t]),
    "sipflow_framer_next": (c_int, [_vp, _P(S.frame)]),
    "sipflow_framer_expect_pong": (None, [_vp, c_int]),
    "sipflow_framer_pending": (c_size_t, [_vp]),
}


class LibraryNotFoundError(ImportError):
    """libsipflow could not be found or loaded; the message says where the
    binding looked and how to point it at the library."""


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None

#: What :func:`load_library` and :func:`find_library` take as a path.
PathLike = Union[str, "os.PathLike[str]"]


def _candidates_in(directory: str) -> List[str]:
    names = ["libsipflow.so." + SONAME, "libsipflow.so", "libsipflow.dylib"]
    return [os.path.join(directory, n) for n in names]


def _from_env(value: str, tried: List[str]) -> Optional[str]:
    if os.path.isdir(value):
        for path in _candidates_in(value):
            tried.append(path)
            if os.path.exists(path):
                return path
        return None
    tried.append(value)
    return value if os.path.exists(value) else None


def _from_pkg_config(tried: List[str]) -> Optional[str]:
    exe = shutil.which("pkg-config")
    if not exe:
        tried.append("pkg-config (not installed)")
        return None
    try:
        out = subprocess.run(
            [exe, "--variable=libdir", "sipflow"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        tried.append("pkg-config (%s)" % exc)
        return None
    libdir = out.stdout.strip()
    if out.returncode != 0 or not libdir:
        tried.append("pkg-config --variable=libdir sipflow (no sipflow.pc)")
        return None
    for path in _candidates_in(libdir):
        tried.append(path)
        if os.path.exists(path):
            return path
    return None


def find_library(path: Optional[PathLike] = None) -> str:
    """Return the path of the library the search rules pick, or raise
    :class:`LibraryNotFoundError` listing what was tried."""
    tried: List[str] = []
    explicit = path or os.environ.get("SIPFLOW_LIBRARY")
    if explicit:
        found = _from_env(os.fspath(explicit), tried)
        if found:
            return found
        # An explicit choice that does not exist is an error, not a hint:
        # silently loading another copy would hide the mistake.
        raise LibraryNotFoundError(
            "libsipflow not found at %s (given %s)"
            % (", ".join(tried), "as an argument" if path else "by SIPFLOW_LIBRARY")
        )
    found = _from_pkg_config(tried)
    if found:
        return found
    name = ctypes.util.find_library("sipflow")
    tried.append("ctypes.util.find_library('sipflow')")
    if name:
        return name
    raise LibraryNotFoundError(
        "libsipflow not found. Tried: %s. Install libsipflow (so that "
        "`pkg-config --variable=libdir sipflow` names its directory), or set "
        "SIPFLOW_LIBRARY to the path of libsipflow.so, or call "
        "sipflow.load_library(path)." % "; ".join(tried)
    )


def _declare(cdll: ctypes.CDLL) -> None:
    missing: List[str] = []
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise LibraryNotFoundError(
            "the loaded libsipflow lacks %s: it is older than this binding"
            % ", ".join(sorted(missing))
        )


def load_library(path: Optional[PathLike] = None) -> ctypes.CDLL:
    """Load libsipflow (once) and return the ``ctypes.CDLL``.

    :param path: a file or directory; default: the search rules above.
    :raises LibraryNotFoundError: nothing found, or the file is not a
        libsipflow this binding can use.
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            if path is not None and os.fspath(path) != _lib_path:
                found = find_library(path)
                if _lib_path is None or (
                    os.path.realpath(found) != os.path.realpath(_lib_path)
                ):
                    raise LibraryNotFoundError(
                        "libsipflow is already loaded from %s" % _lib_path
                    )
            return _lib
        found = find_library(path)
        try:
            cdll = ctypes.CDLL(found)
        except OSError as exc:
            raise LibraryNotFoundError("cannot load %s: %s" % (found, exc)) from exc
        _declare(cdll)
        if not cdll.sipflow_version(MIN_VERSION):
            raise LibraryNotFoundError(
                "%s is older than 0.2.0, the oldest this binding supports" % found
            )
        _lib, _lib_path = cdll, found
        return _lib


def library_path() -> str:
    """The path the library was loaded from (loading it if needed)."""
    load_library()
    assert _lib_path is not None
    return _lib_path


class _Api:
    """``C.sipflow_x(...)``: the library's functions, loaded on first use."""

    def __getattr__(self, name: str) -> Any:
        fn = getattr(load_library(), name)
        setattr(self, name, fn)  # later lookups skip __getattr__
        return fn


C = _Api()
