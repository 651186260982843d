// GRUUs (RFC 5627) with a real client: JsSIP in headless Chromium (Debian's
// /usr/bin/chromium, driven by puppeteer-core) against sipflow-proxy over
// WSS. Two tabs of one user (two +sip.instance values) and a caller's tab:
// a call to one tab's pub-gruu and to its temp-gruu rings that tab alone;
// after the tab reloads (a new JsSIP UA: a new Call-ID, the same instance)
// its old temp-gruu gets 404 and the new one rings it. Prints one line per
// check, "ok - TEXT" or "not ok - TEXT", and "# ..." notes. Every wait is
// bounded.
//
// usage: node gruu-browser.mjs --ws wss://127.0.0.1:PORT --domain DOMAIN
//          --dump 'COMMAND' --tmp DIR [--bound SECONDS]
import { randomUUID } from "node:crypto";
import { bindingsOf, check, failed, parseArgs, sleep, until } from "./harness.mjs";
import { jssipBrowser } from "./jssip-pages.mjs";

const args = parseArgs();
const bindings = bindingsOf(args);
const { openPage, finish } = await jssipBrowser(args, Number(args.bound ?? 240));
const registered = (page) => page.evaluate(() => window.phone.registered > 0);
const phone = (page) => page.evaluate(() => JSON.parse(JSON.stringify(window.phone)));
const calls = async (page, who) => (await phone(page)).calls.filter((c) => c.who === who);

const ia = randomUUID(), ib = randomUUID();
const a = await openPage("grace", ia);
const b = await openPage("grace", ib);
const c = await openPage("carl", randomUUID());
for (const [n, p] of [["grace's tab a", a], ["grace's tab b", b], ["carl's tab", c]])
  if (!check(await until(15, () => registered(p)), `${n} registered over WSS`))
    console.log(`# ${n}: ${JSON.stringify(await phone(p))}`);

// What JsSIP sent: RFC 5627 §4.1 asks for Supported: gruu and a
// +sip.instance on the Contact of the REGISTER.
const pa = await phone(a);
const reg = pa.sent.find((m) => m.startsWith("REGISTER ")) || "";
const supported = (reg.match(/^(Supported|k):(.*)$/im) || [])[2] || "";
check(/\bgruu\b/i.test(supported), `§4.1: JsSIP's REGISTER lists gruu in Supported (${supported.trim()})`);
check(new RegExp(`^(Contact|m):.*\\+sip\\.instance="<urn:uuid:${ia}>"`, "im").test(reg),
  "§4.1: ... and its Contact carries the tab's +sip.instance");
if (failed) console.log(`# REGISTER: ${JSON.stringify(reg)}`);

// What JsSIP learnt from the 200 (§5.2).
const pub = pa.gruu?.pub, temp1 = pa.gruu?.temp;
check(pub === `sip:grace@${args.domain};gr=urn:uuid:${ia}`,
  `§5.2: JsSIP took tab a's pub-gruu from the 200 (${pub})`);
check(typeof temp1 === "string" && temp1.startsWith("sip:tgruu.") && !temp1.includes("grace"),
  `§5.2: ... and a temp-gruu that hides the AoR (${temp1})`);
const cidOf = (bs, inst) => (bs.find((x) => String(x.instance || "").includes(inst)) || {}).call_id;
const cid1 = cidOf(bindings("grace"), ia);

// A call from carl's tab to URI: up and ended on carl's side and on tab a.
async function callA(uri, label, nth) {
  await c.evaluate((u) => window.dial(u), uri);
  const up = await until(15, async () => (await calls(c, "caller")).at(-1)?.steps.includes("confirmed") &&
    (await calls(a, "callee")).length === nth &&
    (await calls(a, "callee")).at(-1).steps.includes("confirmed"));
  check(up, `${label}: the call is up on carl's tab and on grace's tab a`);
  await sleep(300);
  await c.evaluate(() => window.hangup());
  const down = await until(10, async () => (await calls(c, "caller")).at(-1).steps.some((s) => s.startsWith("ended")) &&
    (await calls(a, "callee")).at(-1)?.steps.some((s) => s.startsWith("ended")));
  check(down, `${label}: BYE ended it on both tabs`);
  if (!up || !down)
    console.log(`# carl ${JSON.stringify(await calls(c, "caller"))} a ${JSON.stringify(await calls(a, "callee"))}`);
  check((await calls(b, "callee")).length === 0, `${label}: grace's tab b did not ring`);
}
await callA(pub, "§6.1: INVITE to tab a's pub-gruu", 1);
const invA = (await phone(c)).sent.filter((m) => m.startsWith("INVITE ")).at(-1) || "";
check(invA.startsWith(`INVITE ${pub} `), "... carl's INVITE went out with the pub-gruu as its Request-URI");
await callA(temp1, "§6.1: INVITE to tab a's temp-gruu", 2);
// RFC 5627 §4.3: in a dialog the UA's Contact is its GRUU, so carl's ACK
// and BYE were sent to that GRUU (and routed by it).
const ok200 = (await phone(a)).sent.filter((m) => /^SIP\/2\.0 200 /.test(m) &&
  /^CSeq:\s*\d+ INVITE/im.test(m)).at(-1) || "";
check(new RegExp(`^(Contact|m):\\s*<${pub.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}>`, "im").test(ok200),
  "§4.3: tab a's 200 to the INVITE has its pub-gruu as Contact");
if (failed) console.log(`# a's 200: ${JSON.stringify(ok200)}`);

// Tab a reloads: a new JsSIP UA, so a REGISTER with a new Call-ID and the
// same instance; its old temp-gruu is no longer valid (§5.1).
await a.reload();
check(await until(15, () => registered(a)), "grace's tab a reloaded and registered again");
const temp2 = (await phone(a)).gruu?.temp;
let cid2;
check(await until(5, () => { cid2 = cidOf(bindings("grace"), ia); return cid2 && cid2 !== cid1; }),
  "the server holds tab a's binding under a new Call-ID");
check(temp2 && temp2 !== temp1, "§5.1: the new REGISTER got a new temp-gruu");
await c.evaluate((u) => window.dial(u), temp1);
const gone = await until(15, async () => (await calls(c, "caller")).at(-1)?.steps.some((s) => s.startsWith("failed")));
const how = (await calls(c, "caller")).at(-1)?.steps || [];
check(gone && how.some((s) => /failed:Not Found/i.test(s)),
  `§5.1, §6.1: a call to the old temp-gruu fails with 404 (${how.join(",")})`);
check((await calls(a, "callee")).length === 0 && (await calls(b, "callee")).length === 0,
  "... and rang neither tab");
await callA(temp2, "§6.1: INVITE to the new temp-gruu", 1);
await callA(pub, "§6.1: INVITE to the pub-gruu after the reload", 2);

await finish(failed);
