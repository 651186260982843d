// JsSIP in headless Chromium (Debian's /usr/bin/chromium, driven by
// puppeteer-core) against a SIP server over WSS. Prints one line per check,
// "ok - TEXT" or "not ok - TEXT" (the wire script turns them into TAP), and
// "# ..." notes. Every wait is bounded.
//
// usage: node jssip-browser.mjs --ws wss://127.0.0.1:PORT --domain DOMAIN
//          --dump 'COMMAND' --tmp DIR [--cycles N] [--rtt]
//          [--call-baresip 'COMMAND URI'] [--hold SECONDS]
//   --dump      prints the server's bindings ({"bindings": [...]}, the
//               shape of sipflow-proxy's ctl dump)
//   --rtt       check that the page's binding shows a round-trip time
//   --pages-only  open the two pages, register, print "# ready", then
//               wait for a line on stdin (another client calls them)
import { randomUUID } from "node:crypto";
import readline from "node:readline";
import { bindingsOf, check, failed, parseArgs, sleep, until } from "./harness.mjs";
import { jssipBrowser } from "./jssip-pages.mjs";

const args = parseArgs();
const cycles = Number(args.cycles ?? 100);
const bindings = bindingsOf(args);
const { openPage, finish } = await jssipBrowser(args, Number(args.bound ?? 300));
const registered = (page) => page.evaluate(() => window.phone.registered > 0);
const phoneState = (page) => page.evaluate(() => JSON.stringify(window.phone));

const inst = { alice: randomUUID(), bob: randomUUID() };
const alice = await openPage("alice", inst.alice);
const bob = await openPage("bob", inst.bob);
for (const [u, p] of [["alice", alice], ["bob", bob]]) {
  if (!check(await until(15, () => registered(p)), `${u}'s page registered over WSS (200 OK)`))
    console.log(`# ${u}: ${await phoneState(p)}`);
}
for (const u of ["alice", "bob"]) {
  let bs = [];
  await until(5, () => (bs = bindings(u)).length === 1);
  const b = bs[0] || {};
  check(bs.length === 1 && b.outbound && b.reg_id === 1 &&
    String(b.instance || "").includes(inst[u]) &&
    String(b.flow?.transport).toLowerCase() === "wss",
  `${u}: one binding, Outbound with reg-id 1 and the page's +sip.instance, on a WSS flow`);
  if (failed) console.log(`# ${u}: ${JSON.stringify(bs.map(({ raw, ...x }) => x))}`);
}

// The steps of the page's latest call in that role.
async function callSteps(page, who) {
  return page.evaluate((w) => ([...window.phone.calls].reverse().find((c) => c.who === w) || { steps: [] }).steps, who);
}
async function pageCall(caller, callee, uri, label) {
  await caller.evaluate((u) => window.dial(u), uri);
  const up = await until(15, async () => (await callSteps(caller, "caller")).includes("confirmed") &&
    (await callSteps(callee, "callee")).includes("confirmed"));
  check(up, `${label}: the call is up on both pages (INVITE, 200, ACK through the server)`);
  await sleep(300);
  await caller.evaluate(() => window.hangup());
  const down = await until(10, async () => (await callSteps(caller, "caller")).some((s) => s.startsWith("ended")) &&
    (await callSteps(callee, "callee")).some((s) => s.startsWith("ended")));
  check(down, `${label}: BYE went through, the call ended on both pages`);
  if (!up || !down)
    console.log(`# caller ${JSON.stringify(await callSteps(caller, "caller"))} callee ${JSON.stringify(await callSteps(callee, "callee"))}`);
}

if (args["pages-only"]) {
  // Another client calls the pages, or is called by them. Commands, one a
  // line: "answered" (bob's page took a call that was up and ended),
  // "dial URI" (alice calls URI and hangs up), "call URI" (alice calls URI
  // and the callee hangs up), "hangup" (bob's page answers the next call
  // and hangs up), "end".
  console.log("# ready");
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, uri] = line.trim().split(/\s+/);
    if (cmd === "answered") {
      const ok = await until(10, async () => {
        const st = await callSteps(bob, "callee");
        return st.includes("confirmed") && st.some((x) => x.startsWith("ended"));
      });
      check(ok, "bob's page answered the call, it was up (ACK) and ended (BYE)");
      if (!ok) console.log(`# bob: ${await phoneState(bob)}`);
    } else if (cmd === "dial") {
      await alice.evaluate((u) => window.dial(u), uri);
      const up = await until(15, async () => (await callSteps(alice, "caller")).includes("confirmed"));
      check(up, `alice's page called ${uri}: the call is up (200, ACK)`);
      await sleep(1000);
      await alice.evaluate(() => window.hangup());
      const down = await until(10, async () => (await callSteps(alice, "caller")).some((x) => x.startsWith("ended")));
      check(up && down, `alice's page hung up: the call ended (BYE answered)`);
      if (!up || !down) console.log(`# alice: ${await phoneState(alice)}`);
    } else if (cmd === "call") {
      await alice.evaluate((u) => window.dial(u), uri);
      const up = await until(15, async () => (await callSteps(alice, "caller")).includes("confirmed"));
      check(up, `alice's page called ${uri}: the call is up (200, ACK)`);
      const down = await until(30, async () => (await callSteps(alice, "caller")).some((x) => x.startsWith("ended") && x.endsWith(":remote")));
      check(up && down, `${uri} hung up: alice's page got the BYE, the call ended`);
      if (!up || !down) console.log(`# alice: ${await phoneState(alice)}`);
    } else if (cmd === "hangup") {
      const n = await bob.evaluate(() => window.phone.calls.filter((c) => c.who === "callee").length);
      const up = await until(30, async () => bob.evaluate((k) => {
        const cs = window.phone.calls.filter((c) => c.who === "callee");
        return cs.length > k && cs[cs.length - 1].steps.includes("confirmed");
      }, n));
      check(up, "bob's page answered the next call, it is up (ACK)");
      await sleep(1000);
      await bob.evaluate(() => window.hangup());
      const down = await until(10, async () => (await callSteps(bob, "callee")).some((x) => x.startsWith("ended") && x.endsWith(":local")));
      check(up && down, "bob's page hung up the call it answered: the call ended (BYE answered)");
      if (!up || !down) console.log(`# bob: ${await phoneState(bob)}`);
    } else if (cmd === "end") break;
    console.log("# done");
  }
} else {
  await pageCall(alice, bob, `sip:bob@${args.domain}`, "alice -> bob");

  // A reload: a new WebSocket, the same instance and reg-id.
  await alice.reload();
  check(await until(15, () => registered(alice)), "alice's page reloaded and registered again");
  check(await until(5, () => bindings("alice").length === 1),
    "after a reload alice has exactly one binding (the old one replaced)");
  await pageCall(bob, alice, `sip:alice@${args.domain}`, "bob -> alice after alice's reload");

  if (args.rtt) {
    let b = {};
    const rtt = await until(Number(args["rtt-wait"] ?? 20), () => {
      b = bindings("alice")[0] || {};
      return (b.keepalive?.rtt_us ?? 0) > 0;
    });
    check(rtt, "the server shows a round-trip time for alice's page in its dump");
    console.log(`# alice's keepalive: ${JSON.stringify(b.keepalive)}`);
  }

  let worst = 0;
  let regMs = 0;
  let loadMs = 0;
  let counts = [];
  const t0 = Date.now();
  for (let i = 0; i < cycles; i++) {
    const l0 = Date.now();
    await alice.reload({ waitUntil: "domcontentloaded" });
    const r0 = Date.now();
    loadMs += r0 - l0;
    const ok = await until(15, () => registered(alice));
    regMs += Date.now() - r0;
    if (!ok) { counts.push(`cycle ${i}: no registration`); break; }
    const n = bindings("alice").length;
    worst = Math.max(worst, n);
    if (n !== 1) counts.push(`cycle ${i}: ${n}`);
  }
  await until(5, () => bindings("alice").length === 1);
  const nA = bindings("alice").length, nB = bindings("bob").length;
  check(counts.length === 0 && nA === 1 && nB === 1,
    `${cycles} reload cycles: exactly one binding per tab after each and at the end (alice ${nA}, bob ${nB})`);
  if (counts.length) console.log(`# ${counts.slice(0, 10).join("; ")}`);
  console.log(`# ${cycles} reloads in ${((Date.now() - t0) / 1000).toFixed(1)} s, most bindings seen ${worst}, ${(regMs / Math.max(1, cycles)).toFixed(0)} ms from reload to registered, ${(loadMs / Math.max(1, cycles)).toFixed(0)} ms to reload`);
}

// Closing a tab closes its WebSocket: the binding goes at once.
await bob.close();
check(await until(5, () => bindings("bob").length === 0), "bob's tab closed: his binding is gone within 5 s");
check(bindings("alice").length === 1, "alice's binding is still there");

await finish(failed);
