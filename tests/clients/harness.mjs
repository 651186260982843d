// What every client driver here shares: its "--name value" arguments, the
// "ok - TEXT" / "not ok - TEXT" check lines the wire scripts turn into TAP,
// bounded waits, and the server's bindings as `ctl dump` prints them.
import { execSync } from "node:child_process";

/** "--name value" pairs into an object; a "--flag" without a value is true. */
export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, "");
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) args[name] = true;
    else { args[name] = next; i++; }
  }
  return args;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How many checks failed so far (a live binding for importers). */
export let failed = 0;

/** Prints one check line; returns ok. */
export function check(ok, text) {
  if (!ok) failed++;
  console.log(`${ok ? "ok" : "not ok"} - ${text}`);
  return ok;
}

/** Polls fn every 100 ms until it returns true (then true) or secs pass (false). */
export async function until(secs, fn) {
  const end = Date.now() + secs * 1000;
  for (;;) {
    try { if (await fn()) return true; } catch { /* retried */ }
    if (Date.now() >= end) return false;
    await sleep(100);
  }
}

/** A function giving the bindings of sip:USER@args.domain from args.dump. */
export function bindingsOf(args) {
  return (user) => {
    const out = execSync(args.dump, { encoding: "utf8", timeout: 5000 });
    return JSON.parse(out).bindings.filter((b) => b.aor === `sip:${user}@${args.domain}`);
  };
}
