"""Registrar: REGISTER facts as Python values, bindings, target plans with
failover (RFC 5626 §7), expiry on the context's timer."""

import pytest

import sipflow
from sipflow import SECOND, RegChange

AOR = "sip:alice@example.com"
INST = '"<urn:uuid:00000000-0000-1000-8000-00000000000a>"'


def tcp(flow_id):
    return sipflow.FlowTuple("tcp", ("192.0.2.1", 5060),
                             ("198.51.100.7", 40000 + flow_id), 1)


@pytest.fixture
def reg(ctx):
    changes = []
    r = sipflow.Registrar(ctx, on_change=lambda c, b: changes.append((c, b)))
    r.changes = changes
    return r


def register_flow(reg, flow_id, reg_id, q=None, expires=3600):
    """An Outbound REGISTER from the UA over flow ``flow_id`` (RFC 5626 §4.2)."""
    res = reg.process(
        aor=AOR,
        call_id="call-%d" % flow_id,
        cseq=1,
        contacts=[dict(uri="sip:alice@192.0.2.%d;transport=tcp" % flow_id,
                       instance=INST, reg_id=reg_id, q=q, expires=expires)],
        supported={"outbound", "path"},
        flow_id=flow_id,
        flow=tcp(flow_id),
        received=("198.51.100.7", 40000 + flow_id),
        user_agent="pytest",
    )
    assert res.status == 200, res
    return res


def test_a_register_from_a_dict_adds_a_binding_and_answers_200(reg):
    res = reg.process({
        "aor": "sip:bob@Example.COM;transport=udp",
        "call_id": "c1",
        "cseq": 5,
        "contacts": ["sip:bob@192.0.2.20:5062"],
        "expires": 600,
    })
    assert res.ok and res.status == 200 and res.reason == "OK"
    [b] = res.contacts
    assert b.aor == "sip:bob@example.com"  # RFC 3261 §10.3 step 5
    assert b.uri == "sip:bob@192.0.2.20:5062"
    assert b.expires == 600 and b.q is None and not b.outbound
    assert reg.changes == [(RegChange.ADDED, b)]
    assert len(reg) == 1 and reg.aor_count == 1


def test_an_outbound_register_is_keyed_by_instance_and_reg_id(reg):
    res = register_flow(reg, 11, 1)
    assert res.require & sipflow.RegOption.OUTBOUND  # RFC 5626 §6
    [b] = res.contacts
    assert b.outbound and b.reg_id == 1
    assert b.instance == "urn:uuid:00000000-0000-1000-8000-00000000000a"
    assert b.flow_id == 11 and b.flow == tcp(11)
    assert b.received == sipflow.Address("198.51.100.7", 40011)
    assert b.user_agent == "pytest"
    # Same instance and reg-id over a new flow replaces it (RFC 5626 §6).
    res = register_flow(reg, 12, 1)
    assert [c.flow_id for c in res.contacts] == [12]
    assert reg.changes[-1][0] == RegChange.UPDATED
    # The change names the flow it left, for the host's keepalive there.
    assert reg.changes[-1][1].prev_flow_id == 11
    assert reg.changes[0][1].prev_flow_id == 0


@pytest.mark.parametrize(
    "rule, facts, status",
    [
        ("RFC 3261 §10.3 step 7: a repeated CSeq for the same Call-ID is "
         "refused (400, docs/registrar.md)",
         dict(call_id="call-11", cseq=1, supported="outbound", flow_id=11,
              contacts=[dict(uri="sip:alice@192.0.2.11;transport=tcp",
                             instance=INST, reg_id=1)]), 400),
        ("RFC 3261 §10.3 step 6: '*' needs Expires: 0",
         dict(call_id="x", cseq=1, wildcard=True, expires=60), 400),
        ("RFC 3261 §10.3 step 6: an interval below the minimum gets 423",
         dict(call_id="x", cseq=1, contacts=["sip:a@192.0.2.9"], expires=5), 423),
        ("RFC 3261 §8.2.2.3: an unknown Require tag gets 420",
         dict(call_id="x", cseq=1, require_unknown=["foo"]), 420),
    ],
)
def test_refusals_are_results_not_exceptions(reg, rule, facts, status):
    register_flow(reg, 11, 1)
    before = len(reg)
    res = reg.process(aor=AOR, **facts)
    assert res.status == status, rule
    assert len(reg) == before  # all or nothing
    if status == 423:
        assert res.min_expires == 60


def test_failover_430_removes_the_binding_and_tries_the_next_flow(reg, ctx):
    """RFC 5626 §7: one flow per instance at a time; after 430 the binding
    goes and the instance's next flow is tried; 408 keeps the binding."""
    register_flow(reg, 11, 1)
    register_flow(reg, 12, 2)
    reg.changes.clear()
    with reg.lookup(AOR) as plan:
        groups = iter(plan)
        group = next(groups)
        assert [b.binding.flow_id for b in group] == [11]  # lowest reg-id first
        assert plan.pending == 1
        nxt = plan.report(group[0], 430)
        assert nxt is not None and nxt.binding.flow_id == 12
        assert [(c, b.flow_id) for c, b in reg.changes] == [(RegChange.FLOW_FAILED, 11)]
        assert plan.report(nxt, 408) is None  # no third flow
        assert list(groups) == []
        assert plan.final_status == 408  # RFC 5626 §11.5: 430 ranks last
    assert [b.flow_id for b in reg.bindings()] == [12]  # 408 kept it


def test_when_every_flow_answers_430_upstream_gets_480(reg):
    register_flow(reg, 11, 1)
    register_flow(reg, 12, 2)
    with reg.lookup(AOR) as plan:
        [branch] = plan.next_group()
        nxt = plan.report(branch, 430)
        assert plan.report(nxt, 430) is None
        assert plan.next_group() == []
        assert plan.final_status == 480  # RFC 5626 §11.5: never 430 upstream
    assert len(reg) == 0


def test_a_2xx_finishes_the_plan(reg):
    register_flow(reg, 11, 1)
    register_flow(reg, 12, 2)
    plan = reg.lookup(AOR)
    [branch] = plan.next_group()
    assert plan.report(branch, 200) is None
    assert plan.next_group() == []
    assert plan.final_status == 200
    plan.close()


def test_reporting_before_the_group_is_done_is_a_bad_state(reg):
    register_flow(reg, 11, 1)
    plan = reg.lookup(AOR)
    [branch] = plan.next_group()
    with pytest.raises(sipflow.BadStateError):
        plan.next_group()
    with pytest.raises(sipflow.InvalidArgumentError):
        plan.report(branch.id + 100, 486)
    plan.report(branch, 486)
    with pytest.raises(sipflow.BadStateError):
        plan.report(branch, 486)


def test_health_orders_flows_and_dead_flows_are_skipped(reg):
    register_flow(reg, 11, 1)
    register_flow(reg, 12, 2)
    assert reg.flow_health(11, sipflow.Health.SUSPECT)
    assert reg.flow_health(12, "alive")
    assert not reg.flow_health(99, "alive")  # no binding on it
    with reg.lookup(AOR) as plan:
        assert [b.binding.flow_id for b in plan.next_group()] == [12]
    reg.flow_health(12, "dead")
    with reg.lookup(AOR) as plan:
        assert [b.binding.flow_id for b in plan.next_group()] == [11]


def test_a_failed_flow_removes_its_bindings(reg):
    register_flow(reg, 11, 1)
    assert reg.flow_binding_count(11) == 1
    assert reg.flow_binding_count(12) == 0
    assert reg.flow_failed(11)
    assert reg.flow_binding_count(11) == 0
    assert reg.changes[-1][0] == RegChange.FLOW_FAILED
    assert len(reg) == 0
    assert reg.lookup(AOR) is None  # answer 480
    assert not reg.flow_failed(11)


def test_a_binding_failed_behind_an_edge_goes_alone(reg):
    register_flow(reg, 11, 1)
    register_flow(reg, 12, 2)
    bid = reg.changes[0][1].id
    assert reg.binding_failed(AOR + ";transport=tcp", bid)  # RFC 3261 §10.3
    assert reg.changes[-1][0] == RegChange.FLOW_FAILED
    assert len(reg) == 1
    assert not reg.binding_failed(AOR, bid)  # gone already
    with pytest.raises(sipflow.MalformedError):
        reg.binding_failed("tel:1", bid)


def test_bindings_expire_on_the_context_timer(reg, ctx, clock):
    register_flow(reg, 11, 1, expires=60)
    assert ctx.expiry is not None and ctx.expiry <= clock.t + 60 * SECOND
    while ctx.expiry is not None and len(reg):
        clock.to(max(clock.t, ctx.expiry))
        ctx.handle_expiry()
    assert len(reg) == 0
    assert reg.changes[-1][0] == RegChange.EXPIRED
    assert clock.t == 1060 * SECOND


def test_lookup_of_a_non_sip_uri_is_malformed(reg):
    with pytest.raises(sipflow.MalformedError):
        reg.lookup("mailto:alice@example.com")


def test_lookup_many_gives_what_lookup_gives_for_each(reg):
    for k in range(20):  # more than one round of the batch
        res = reg.process(aor="sip:u%d@example.com" % k, call_id="c%d" % k,
                          cseq=1, contacts=["sip:u%d@192.0.2.%d" % (k, k + 1)])
        assert res.status == 200
    uris = ["sip:u%d@Example.COM" % k for k in range(0, 24, 2)]  # 20, 22: none
    plans = reg.lookup_many(uris)
    assert [p is None for p in plans] == [False] * 10 + [True] * 2
    for k, plan in zip(range(0, 20, 2), plans):
        with plan:
            [branch] = plan.next_group()
            assert branch.binding.uri == "sip:u%d@192.0.2.%d" % (k, k + 1)
            assert branch.binding.aor == "sip:u%d@example.com" % k
    assert reg.lookup_many([]) == []


def test_lookup_many_raises_for_a_malformed_uri_and_keeps_no_plan(reg):
    register_flow(reg, 11, 1)
    with pytest.raises(sipflow.MalformedError):
        reg.lookup_many([AOR, "mailto:alice@example.com"])
    with reg.lookup(AOR) as plan:  # nothing left half-made
        assert [b.binding.flow_id for b in plan.next_group()] == [11]


def test_an_exception_in_on_change_comes_back_after_the_change_is_made(reg):
    def boom(change, binding):
        raise RuntimeError("store down")

    reg.on_change = boom
    with pytest.raises(RuntimeError, match="store down"):
        register_flow(reg, 11, 1)
    assert len(reg) == 1  # the REGISTER was applied; the host sees its error


def test_calling_the_registrar_from_its_callback_is_refused(reg):
    def reenter(change, binding):
        reg.process(aor=AOR, call_id="inner", cseq=1)

    reg.on_change = reenter
    with pytest.raises(sipflow.BadStateError):
        register_flow(reg, 11, 1)


def test_settings_are_keywords_and_unknown_ones_are_refused(ctx):
    r = sipflow.Registrar(ctx, max_contacts=1, outbound="required", flow_timer=25)
    res = r.process(aor=AOR, call_id="c", cseq=1, contacts=["sip:a@192.0.2.1"])
    assert res.status == 421  # RFC 5626 §6: Outbound required
    with pytest.raises(TypeError):
        sipflow.Registrar(ctx, max_contact=1)
    with pytest.raises(sipflow.InvalidArgumentError):
        sipflow.Registrar(ctx, max_contacts=0)


def test_closing_the_registrar_closes_its_plans(reg):
    register_flow(reg, 11, 1)
    plan = reg.lookup(AOR)
    reg.close()
    assert plan.closed


def test_response_helpers():
    assert sipflow.response_pick(486, 200) == 200
    assert sipflow.response_pick(430, 486) == 486  # RFC 5626 §11.5
    assert sipflow.response_upstream(430) == 480
    assert sipflow.response_upstream(503) == 500


def _gruu_register(reg, flow_id, inst, call_id, cseq=1):
    res = reg.process(
        aor=AOR, call_id=call_id, cseq=cseq,
        contacts=[dict(uri="sip:alice@192.0.2.%d;transport=tcp" % flow_id,
                       instance=inst, reg_id=1)],
        supported={"outbound", "path", "gruu"}, flow_id=flow_id,
        flow=tcp(flow_id))
    assert res.status == 200, res
    return [b for b in res.contacts if b.flow_id == flow_id][0]


def test_gruus_in_the_200_and_routing_to_one_instance_rfc5627(ctx, reg):
    kr = sipflow.KeyRing(ctx)
    kr.new_key(1)
    reg.set_gruu(kr)
    inst_b = '"<urn:uuid:00000000-0000-1000-8000-00000000000b>"'
    a = _gruu_register(reg, 1, INST, "cid-a")
    b = _gruu_register(reg, 2, inst_b, "cid-b")
    # §5.2: the 200's Contacts carry both GRUUs.
    assert a.pub_gruu == AOR + ";gr=urn:uuid:00000000-0000-1000-8000-00000000000a"
    assert a.temp_gruu.startswith("sip:tgruu.") and "alice" not in a.temp_gruu
    assert reg.gruu(a)[0] == a.pub_gruu
    # §6.1: a GRUU reaches its instance alone.
    for uri in (a.pub_gruu, a.temp_gruu):
        plan, status = reg.lookup_gruu(uri)
        assert status == 0
        with plan:
            [branch] = plan.next_group()
            assert branch.binding.flow_id == 1
            plan.report(branch, 200)
    # §5.1: a new Call-ID invalidates the old temp-gruu: 404.
    _gruu_register(reg, 1, INST, "cid-a2")
    assert reg.lookup_gruu(a.temp_gruu) == (None, 404)
    plan, status = reg.lookup_gruu(b.temp_gruu)
    assert status == 0
    plan.close()
    assert reg.lookup_gruu(
        AOR + ";gr=urn:uuid:00000000-0000-1000-8000-0000000000ff") == (None, 480)
