// Load for tests/bench/compare/wss.sh: N idle WSS connections, each holding
// one Outbound REGISTER binding, then rounds of WebSocket keepalives. Driven
// line by line on stdin; answers one line on stdout per command.
//
// usage: node wss-load.mjs --url wss://127.0.0.1:PORT --domain D --n N
//                           [--conc C] [--timeout S] [--spread MS]
//   (start)    opens N connections (subprotocol sip), C at a time (default
//              50), each sends one REGISTER (+sip.instance, reg-id 1,
//              Supported: outbound) and waits for its 200, S seconds at
//              most (default 120) before the connection is given up:
//              "registered OK FAILED MS"
//   ping R     R rounds: a WebSocket Ping on every connection, sent over
//              MS milliseconds (default 0: all at once), the round ends
//              when every Pong is back (10 s bound after the last send);
//              connections the server closed are left out:
//              "ping SENT ANSWERED MS CLOSED"
//   crlf R     the same with a double CRLF inside a text message, answered
//              by a CRLF message: "crlf SENT ANSWERED MS CLOSED"
//   quit       closes every connection and exits
import { randomUUID } from "node:crypto";
import readline from "node:readline";
import WebSocket from "ws";

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const n = Number(args.n ?? 5000);
const conc = Number(args.conc ?? 50);
const timeout = Number(args.timeout ?? 120) * 1000;
const spread = Number(args.spread ?? 0);
const conns = [];
const why = {};
const fail = (r) => { why[r] = (why[r] ?? 0) + 1; };

function register(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(args.url, "sip", { rejectUnauthorized: false, perMessageDeflate: false });
    const c = { ws, pong: null, crlf: null };
    const done = (ok) => { clearTimeout(t); resolve(ok ? c : null); };
    const t = setTimeout(() => { fail("timeout"); ws.terminate(); done(false); }, timeout);
    ws.on("error", (e) => { fail(e.code || e.message); done(false); });
    ws.on("pong", () => c.pong && c.pong());
    ws.on("message", (data) => {
      const s = data.toString();
      if (/^(\r\n)+$/.test(s)) { if (c.crlf) c.crlf(); return; }
      if (c.registering && /^SIP\/2\.0 200/.test(s)) { c.registering = false; done(true); }
      else if (c.registering && /^SIP\/2\.0 [3-6]/.test(s)) {
        fail(s.split("\r\n")[0]); c.registering = false; ws.close(); done(false);
      }
    });
    ws.on("open", () => {
      const user = `u${i}`;
      const tag = randomUUID().slice(0, 8);
      const host = `${randomUUID().slice(0, 12)}.invalid`;
      c.registering = true;
      ws.send([
        `REGISTER sip:${args.domain} SIP/2.0`,
        `Via: SIP/2.0/WSS ${host};branch=z9hG4bK${randomUUID().replace(/-/g, "")}`,
        "Max-Forwards: 70",
        `To: <sip:${user}@${args.domain}>`,
        `From: <sip:${user}@${args.domain}>;tag=${tag}`,
        `Call-ID: ${randomUUID()}`,
        "CSeq: 1 REGISTER",
        `Contact: <sip:${user}@${host};transport=ws;ob>;reg-id=1;+sip.instance="<urn:uuid:${randomUUID()}>";expires=3600`,
        "Supported: path, outbound",
        "Content-Length: 0", "", ""].join("\r\n"));
    });
  });
}

async function openAll() {
  const t0 = Date.now();
  let ok = 0, bad = 0, next = 0;
  async function worker() {
    while (next < n) {
      const c = await register(next++);
      if (c) { conns.push(c); ok++; } else bad++;
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  if (bad) console.error(`failures: ${JSON.stringify(why)}`);
  return `registered ${ok} ${bad} ${Date.now() - t0}`;
}

async function rounds(kind, r) {
  const t0 = Date.now();
  let sent = 0, answered = 0;
  for (let k = 0; k < r; k++) {
    const slot = kind === "ping" ? "pong" : "crlf";
    // A connection the server closed is left out (and not counted as
    // sent): waiting 10 s for its answer would leave every other
    // connection idle that long.
    const open = conns.filter((c) => c.ws.readyState === WebSocket.OPEN);
    await Promise.all(open.map((c, i) => new Promise((resolve) => {
      const send = () => {
        const t = setTimeout(() => { c[slot] = null; resolve(); }, 10000);
        c[slot] = () => { c[slot] = null; clearTimeout(t); answered++; resolve(); };
        sent++;
        if (kind === "ping") c.ws.ping(); else c.ws.send("\r\n\r\n");
      };
      if (spread > 0) setTimeout(send, Math.floor((i * spread) / open.length));
      else send();
    })));
  }
  const closed = conns.filter((c) => c.ws.readyState !== WebSocket.OPEN).length;
  return `${kind} ${sent} ${answered} ${Date.now() - t0} ${closed}`;
}

console.log(await openAll());
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, r] = line.trim().split(/\s+/);
  if (cmd === "ping" || cmd === "crlf") console.log(await rounds(cmd, Number(r)));
  else if (cmd === "quit") break;
}
for (const c of conns) c.ws.terminate();
process.exit(0);
