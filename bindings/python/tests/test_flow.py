"""FlowTable: flows, their tokens, and flow failure reports."""

import pytest

import sipflow

from conftest import tcp_tuple, udp_tuple


@pytest.fixture
def table(ctx):
    kr = sipflow.KeyRing(ctx)
    kr.new_key(1)
    failed = []
    ft = sipflow.FlowTable(ctx, kr, on_flow_failed=lambda f, r: failed.append((f, r)))
    ft.failed = failed
    return ft


def test_a_flow_gets_an_id_and_a_token_that_looks_it_up(table):
    fid = table.add(tcp_tuple(), handle=42)
    assert fid != 0
    token = table.token(fid)
    info = table.lookup(token)
    assert info.id == fid and info.handle == 42
    assert info.tuple.same_flow(tcp_tuple())
    assert len(table) == 1 and fid in table
    assert [f.id for f in table] == [fid]
    assert table.find(tcp_tuple(port=40000)) == fid
    assert table.find(tcp_tuple(port=1)) is None
    assert table.get(fid).handle == 42


def test_ending_a_flow_reports_it_and_makes_its_token_stale(table):
    fid = table.add(tcp_tuple(), handle=1)
    token = table.token(fid)
    table.end(fid, "reset")
    assert [(f.id, r) for f, r in table.failed] == [(fid, sipflow.FlowEndReason.RESET)]
    assert sipflow.FlowEndReason.RESET.label == "reset"
    code, info = table.lookup_result(token)
    assert code == sipflow.errors.STALE and info is None
    with pytest.raises(sipflow.StaleError):  # RFC 5626 §5.3.1: answer 430
        table.lookup(token)
    with pytest.raises(sipflow.NotFoundError):
        table.end(fid)


def test_a_new_connection_on_the_same_addresses_gets_a_new_token(table):
    first = table.add(tcp_tuple())
    old = table.token(first)
    table.end(first)
    second = table.add(tcp_tuple())
    assert second != first
    assert table.token(second) != old  # RFC 5626 §3.4: a new flow
    with pytest.raises(sipflow.StaleError):
        table.lookup(old)


def test_adding_a_live_tuple_again_names_the_existing_flow(table):
    fid = table.add(udp_tuple())
    with pytest.raises(sipflow.ExistsError) as info:
        table.add(udp_tuple())
    assert info.value.flow_id == fid


def test_max_flows_is_a_limit(ctx):
    kr = sipflow.KeyRing(ctx)
    kr.new_key(1)
    ft = sipflow.FlowTable(ctx, kr, max_flows=1)
    ft.add(udp_tuple(1))
    with pytest.raises(sipflow.LimitError):
        ft.add(udp_tuple(2))


def test_an_exception_in_on_flow_failed_comes_back_after_the_call(table):
    def boom(flow, reason):
        raise KeyError("host bookkeeping")

    table.on_flow_failed = boom
    fid = table.add(tcp_tuple())
    with pytest.raises(KeyError, match="host bookkeeping"):
        table.end(fid, sipflow.FlowEndReason.CLOSED)
    assert fid not in table  # the C call completed; only Python saw the error
    assert len(table) == 0


def test_closing_the_key_ring_closes_the_table_first(table):
    table.keyring.close()
    assert table.closed
