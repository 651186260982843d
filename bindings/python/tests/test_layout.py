"""Every mirrored struct, constant and enum against the C headers.

A small C program is generated from the ctypes definitions themselves and
compiled against the headers: it prints sizeof and alignment of each struct,
offsetof of each member, and the value of each constant. The binding and the
headers must agree on all of them, or ctypes would read and write the wrong
bytes.
"""

import enum
import os
import shutil
import subprocess

import pytest

import sipflow
from sipflow import _structs as S
from sipflow import edge, errors, keepalive, registrar, stun
from sipflow.context import LogLevel
from sipflow.framer import FrameType

from conftest import include_dirs

# Python enum -> prefix of its C constants; members listed in the third item
# have no C counterpart (NONE of a flag set).
ENUMS = [
    (sipflow.Transport, "SIPFLOW_TRANSPORT_", ()),
    (sipflow.Health, "SIPFLOW_HEALTH_", ()),
    (sipflow.Family, "SIPFLOW_AF_", ()),
    (LogLevel, "SIPFLOW_LOG_", ()),
    (sipflow.FlowEndReason, "SIPFLOW_FLOW_END_", ()),
    (edge.EdgeMethod, "SIPFLOW_EDGE_METHOD_", ()),
    (edge.EdgeForce, "SIPFLOW_EDGE_FORCE_", ()),
    (edge.EdgeAction, "SIPFLOW_EDGE_", ()),
    (edge.EdgeHeader, "SIPFLOW_EDGE_HEADER_", ()),
    (edge.EdgeDirection, "SIPFLOW_EDGE_DIR_", ()),
    (edge.EdgeReason, "SIPFLOW_EDGE_REASON_", ()),
    (edge.NatFlags, "SIPFLOW_NAT_", ("NONE",)),
    (registrar.RegOption, "SIPFLOW_REG_OPT_", ("NONE",)),
    (registrar.OutboundPolicy, "SIPFLOW_REG_OUTBOUND_", ()),
    (registrar.OverflowPolicy, "SIPFLOW_REG_OVERFLOW_", ()),
    (registrar.DeadFlowPolicy, "SIPFLOW_REG_DEAD_FLOW_", ()),
    (registrar.PathOb, "SIPFLOW_REG_PATH_OB_", ()),
    (registrar.FlowOrder, "SIPFLOW_REG_ORDER_", ()),
    (registrar.RegChange, "SIPFLOW_REG_", ()),
    (keepalive.KeepaliveMethod, "SIPFLOW_KEEPALIVE_", ()),
    (keepalive.ReasonKind, "SIPFLOW_KEEPALIVE_", ()),
    (keepalive.KeepaliveEvent, "SIPFLOW_KEEPALIVE_", ()),
    (keepalive.Removal, "SIPFLOW_KEEPALIVE_REMOVED_", ()),
    (stun.DatagramKind, "SIPFLOW_DATAGRAM_", ()),
    (stun.StunType, "SIPFLOW_STUN_", ()),
    (FrameType, "SIPFLOW_FRAME_", ()),
]


def constants():
    out = dict(S.CONSTANTS)
    for cls, prefix, skip in ENUMS:
        for member in cls.__members__.values():
            if member.name not in skip:
                out[prefix + member.name] = int(member)
    for name, value in vars(errors).items():
        if name.isupper() and isinstance(value, int):
            out["SIPFLOW_ERR_" + name] = value
    out["SIPFLOW_NAT_BEHIND_MASK"] = int(edge.NAT_BEHIND_MASK)
    out["SIPFLOW_EDGE_URI_OB"] = edge.URI_OB
    return out


def c_program():
    lines = [
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <sipflow/sipflow.h>",
        "int main(void) {",
    ]
    for cname, cls in S.ALL.items():
        lines.append(
            '  printf("S %s %%zu %%zu\\n", sizeof(%s), _Alignof(%s));'
            % (cname, cname, cname)
        )
        for field in cls._fields_:
            lines.append(
                '  printf("F %s.%s %%zu\\n", offsetof(%s, %s));'
                % (cname, field[0], cname, field[0])
            )
    for name in constants():
        lines.append(
            '  printf("K %s %%lld\\n", (long long)(%s));' % (name, name)
        )
    lines += ["  return 0;", "}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def c_facts(tmp_path_factory):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to read the headers with")
    tmp = tmp_path_factory.mktemp("layout")
    src = tmp / "layout.c"
    exe = tmp / "layout"
    src.write_text(c_program())
    cmd = [cc, "-std=c11", "-Wall", "-Werror", "-o", str(exe), str(src)]
    cmd += ["-I" + d for d in include_dirs()]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True)
    facts = {}
    for line in out.stdout.splitlines():
        kind, name, *values = line.split()
        facts[(kind, name)] = [int(v) for v in values]
    return facts


@pytest.mark.parametrize("cname", sorted(S.ALL))
def test_struct_size_alignment_and_every_offset_match_c(c_facts, cname):
    import ctypes

    cls = S.ALL[cname]
    assert c_facts[("S", cname)] == [ctypes.sizeof(cls), ctypes.alignment(cls)]
    for field in cls._fields_:
        got = getattr(cls, field[0]).offset
        assert c_facts[("F", "%s.%s" % (cname, field[0]))] == [got], field[0]


def test_every_constant_and_enum_value_matches_c(c_facts):
    wrong = {}
    for name, value in constants().items():
        c_value = c_facts[("K", name)][0]
        if value >= 1 << 63:
            value -= 1 << 64
        if c_value != value:
            wrong[name] = (value, c_value)
    assert wrong == {}


def test_every_c_error_code_has_a_python_class():
    for name, value in vars(errors).items():
        if name.isupper() and isinstance(value, int) and value != errors.FATAL:
            exc = errors.error_for(value)
            assert exc.name == "SIPFLOW_ERR_" + name
            assert type(exc) is not errors.SipflowError


def test_every_enum_is_an_int_enum():
    for cls, _, _ in ENUMS:
        assert issubclass(cls, (enum.IntEnum, enum.IntFlag))
