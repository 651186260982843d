// SIP.js in Node (its web transport on the `ws` package) against a SIP
// server over WS: registers with Outbound (+sip.instance, reg-id 1) and
// keeps the flow with SIP.js's own double-CRLF keepalive (RFC 5626 §4.4.1,
// RFC 7118 §6), counting the CRLF pongs that come back. Prints "ok - TEXT"
// / "not ok - TEXT" lines and "# ..." notes; every wait is bounded.
//
// usage: node sipjs-node.mjs --ws ws://127.0.0.1:PORT --domain DOMAIN
//          --dump 'COMMAND' [--seconds N] [--interval S]
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { bindingsOf, check, failed, parseArgs, sleep, until } from "./harness.mjs";

const args = parseArgs();
const seconds = Number(args.seconds ?? 12);
const interval = Number(args.interval ?? 2);
const bindings = bindingsOf(args);

// SIP.js's transport uses the browser's WebSocket; here it is `ws`'s, which
// also counts the keepalives each way.
const count = { pings: 0, pongs: 0 };
class CountingWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    this.addEventListener("message", (ev) => {
      if (typeof ev.data === "string" && /^(\r\n)+$/.test(ev.data)) count.pongs++;
    });
  }
  send(data, ...rest) {
    if (data === "\r\n\r\n") count.pings++;
    return super.send(data, ...rest);
  }
}
globalThis.WebSocket = CountingWebSocket;
const { UserAgent, Registerer, RegistererState } = await import("sip.js");

const watchdog = setTimeout(() => {
  console.log("not ok - the scenario finished within its time bound");
  process.exit(1);
}, (seconds + 40) * 1000);

const instance = randomUUID();
const ua = new UserAgent({
  uri: UserAgent.makeURI(`sip:carol@${args.domain}`),
  transportOptions: { server: args.ws, keepAliveInterval: interval, traceSip: false },
  instanceId: instance,
  sipExtensionExtraSupported: ["outbound"],
  logLevel: "error",
});
await ua.start();
const reg = new Registerer(ua, { regId: 1, expires: 600 });
let state = "";
reg.stateChange.addListener((s) => { state = s; });
await reg.register();
check(await until(10, () => state === RegistererState.Registered), "SIP.js registered over WS (200 OK)");
let bs = [];
await until(5, () => (bs = bindings("carol")).length === 1);
const b = bs[0] || {};
check(bs.length === 1 && b.outbound && b.reg_id === 1 && String(b.instance || "").includes(instance) &&
  String(b.flow?.transport).toLowerCase() === "ws",
"carol: one binding, Outbound with reg-id 1 and SIP.js's +sip.instance, on a WS flow");
if (failed) console.log(`# carol: ${JSON.stringify(bs.map(({ raw, ...x }) => x))}`);

await sleep(seconds * 1000);
const { pings, pongs } = count;
console.log(`# ${pings} double-CRLF keepalives sent in ${seconds} s, ${pongs} CRLF pongs back`);
check(pings >= Math.floor(seconds / interval) - 1, `SIP.js sent its CRLF keepalives inside WebSocket messages (${pings})`);
check(pings > 0 && pongs >= pings - 1, `each keepalive was answered with a CRLF pong (${pongs} of ${pings})`);
check(bindings("carol").length === 1, "carol's binding is still there after the keepalive period");

await reg.unregister();
await until(5, () => state === RegistererState.Unregistered);
check(await until(5, () => bindings("carol").length === 0), "carol unregistered: binding gone");
await ua.stop();
clearTimeout(watchdog);
process.exit(failed ? 1 : 0);
