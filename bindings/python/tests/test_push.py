"""Push-reachable bindings (RFC 8599) through the Python binding: pn-*
parameters, 555 and Feature-Caps, push then wait, woken."""

import sipflow
from sipflow import PushReason

AOR = "sip:bob@example.com"
INST = '"<urn:uuid:00000000-0000-1000-8000-0000000000b0>"'


def tcp(flow_id):
    return sipflow.FlowTuple("tcp", ("192.0.2.1", 5060),
                             ("198.51.100.7", 40000 + flow_id), 1)


def register(reg, flow_id, cseq, prid="tok", provider="apns", params=None):
    return reg.process(
        aor=AOR, call_id="c1", cseq=cseq,
        contacts=[dict(uri="sip:bob@192.0.2.9;transport=tcp;pn-provider=%s;"
                           "pn-param=P.voip;pn-prid=%s" % (provider, prid),
                       instance=INST, reg_id=1, params=params)],
        supported={"outbound", "path"}, flow_id=flow_id, flow=tcp(flow_id))


def test_parameters_and_feature_caps(ctx):
    # RFC 8599 §5.4, §5.6.1.1: a served provider gets +sip.pns; +sip.pnsreg
    # only for a Contact that carries the +sip.pnsreg media feature tag.
    reg = sipflow.Registrar(ctx, push_providers="apns,fcm:300",
                            push_refresh=600)
    res = register(reg, 1, 1)
    assert res.status == 200 and res.pns == "apns" and res.pnsreg == 0
    res = register(reg, 1, 2, params="+sip.pnsreg")
    assert res.status == 200 and res.pns == "apns" and res.pnsreg == 600
    b = res.contacts[0]
    assert (b.pn_provider, b.pn_param, b.pn_prid, b.push) == \
        ("apns", "P.voip", "tok", True)


def test_unsupported_provider_gets_555(ctx):
    # RFC 8599 §5.6.1.1, §8.1
    reg = sipflow.Registrar(ctx, push_providers="apns")
    res = register(reg, 1, 1, provider="webpush")
    assert res.status == 555 and len(reg) == 0


def test_push_then_wait_then_woken(ctx):
    # RFC 8599 §5.6.2: the flow fails, the call pushes, the REGISTER over a
    # new flow releases the held request there.
    pushes = []
    reg = sipflow.Registrar(ctx, push_providers="apns",
                            on_push=lambda r, b: pushes.append((r, b)))
    assert register(reg, 7, 1).status == 200
    assert reg.flow_failed(7)
    assert reg.bindings()[0].suspended
    plan = reg.lookup(AOR)
    (br,) = plan.next_group()
    assert br.push and pushes[0][0] == PushReason.CALL
    assert pushes[0][1].pn_prid == "tok"
    assert plan.woken(br) is None
    assert register(reg, 9, 2).status == 200
    nxt = plan.woken(br)
    assert nxt is not None and not nxt.push and nxt.binding.flow_id == 9
    assert plan.report(nxt, 200) is None
    assert plan.final_status == 200
