#!/usr/bin/env python3
"""A tiny SIP OPTIONS pinger on asyncio UDP driven by sipflow's keepalive
scheduler: it keeps the path to a SIP server alive and prints RTTs like ping.

    sipflow-proxy --listen udp:127.0.0.1:5070 &
    python3 options_ping.py 127.0.0.1 5070 --interval 1 --count 5

The scheduler times the probes (waits of 80-100% of --interval), builds the
OPTIONS, matches answers by the probe id in the Via branch, measures RTTs and
counts misses; the script moves bytes and keeps one timer on the deadline.
"""

import argparse
import asyncio
import re
import sys

import sipflow

BRANCH = re.compile(rb"^(?:Via|v)\s*:.*?;\s*branch=([^;,\s]+)", re.I | re.M)
STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")


class Pinger(asyncio.DatagramProtocol):
    def __init__(self, args, done):
        self.args = args
        self.done = done
        self.timer = None
        self.rtts = []
        self.ctx = sipflow.Context()
        self.ka = sipflow.KeepaliveScheduler(
            self.ctx,
            send_probe=self.send_probe,
            on_rtt=self.on_rtt,
            on_state=self.on_state,
            options_timeout=sipflow.seconds(args.timeout),
            dead_after=args.dead_after,
        )

    def connection_made(self, transport):
        self.transport = transport
        local = transport.get_extra_info("sockname")[:2]
        flow = sipflow.FlowTuple("udp", local, (self.args.host, self.args.port))
        endpoint = sipflow.Endpoint(1, flow, "options",
                                    sipflow.seconds(self.args.interval))
        # One reason, "other", for as long as the program runs (a day).
        self.ka.set_reason(endpoint, "other", 1, 86400 * sipflow.SECOND)
        print("OPTIONS ping %s from %s" % (flow.remote, flow.local))
        self.rearm()

    def datagram_received(self, data, addr):
        status = STATUS.match(data)
        branch = BRANCH.search(data)
        if not status or not branch:
            return  # not a response of ours
        try:
            probe_id = sipflow.probe_id_parse(branch.group(1))
            self.ka.on_options_response(probe_id, int(status.group(1)))
        except sipflow.SipflowError as exc:  # late, duplicate, foreign
            print("ignored response: %s" % exc.name)
        self.rearm()

    def error_received(self, exc):
        print("socket error: %s" % exc)

    def rearm(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        delay = self.ctx.timeout()
        if delay is not None and not self.done.done():
            self.timer = asyncio.get_running_loop().call_later(delay, self.fire)

    def fire(self):
        try:
            self.ctx.handle_expiry()
        finally:
            self.rearm()

    def send_probe(self, probe):
        self.transport.sendto(probe.data)

    def on_rtt(self, flow_id, rtt, user_data):
        self.rtts.append(rtt)
        print("answer from %s:%d: seq=%d rtt=%.3f ms" % (
            self.args.host, self.args.port, len(self.rtts), rtt / 1e6))
        self.maybe_finish()

    def on_state(self, flow_id, change, user_data):
        if change.event != sipflow.KeepaliveEvent.ALIVE or change.old_health:
            print("%s:%d is %s (%d missed in a row)" % (
                self.args.host, self.args.port, change.health.name.lower(),
                change.consecutive_misses))
        if change.health == sipflow.Health.DEAD:
            self.finish(1)
        else:
            self.maybe_finish()

    def maybe_finish(self):
        c = self.ka.counters()
        if self.args.count and (
                c.probes_answered + c.probes_missed >= self.args.count):
            self.finish(0 if c.probes_answered else 1)

    def finish(self, code):
        if self.timer is not None:
            self.timer.cancel()
        if not self.done.done():
            self.done.set_result(code)


async def main(args):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, pinger = await loop.create_datagram_endpoint(
        lambda: Pinger(args, done), remote_addr=(args.host, args.port))
    code = await done
    transport.close()
    c = pinger.ka.counters()
    print("--- %d probes sent, %d answered, %d missed" % (
        c.probes_sent[sipflow.KeepaliveMethod.OPTIONS], c.probes_answered,
        c.probes_missed))
    if pinger.rtts:
        ms = [r / 1e6 for r in pinger.rtts]
        print("rtt min/avg/max = %.3f/%.3f/%.3f ms" % (
            min(ms), sum(ms) / len(ms), max(ms)))
    pinger.ctx.close()  # closes the scheduler too
    return code


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("host", help="IP address of the SIP server")
    ap.add_argument("port", type=int, nargs="?", default=5060)
    ap.add_argument("-i", "--interval", type=float, default=1.0,
                    help="longest wait between probes, s (>= 0.1)")
    ap.add_argument("-c", "--count", type=int, default=0,
                    help="stop after this many probes answered or missed")
    ap.add_argument("-t", "--timeout", type=float, default=2.0,
                    help="a probe unanswered this long (s) is missed")
    ap.add_argument("--dead-after", type=int, default=3, help="misses to dead")
    return ap.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
    except KeyboardInterrupt:
        sys.exit(130)
