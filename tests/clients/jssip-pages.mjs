// JsSIP pages (jssip.html) in Debian's headless Chromium, driven by
// puppeteer-core: the page and JsSIP bundled into args.tmp, the browser,
// and a watchdog that ends the run when its time bound passes.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import puppeteer from "puppeteer-core";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Starts Chromium for jssip.html pages served from args.tmp. Returns
 * { browser, openPage(user, instance), finish(failed) }; finish closes the
 * browser and exits with 1 if any check failed.
 */
export async function jssipBrowser(args, boundSecs) {
  fs.copyFileSync(path.join(here, "jssip.html"), path.join(args.tmp, "jssip.html"));
  await esbuild.build({
    entryPoints: [path.join(here, "node_modules/jssip/lib/JsSIP.js")],
    bundle: true, format: "iife", globalName: "JsSIP", logLevel: "error",
    outfile: path.join(args.tmp, "jssip.js"),
  });
  const browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    userDataDir: path.join(args.tmp, "chromium"),
    args: ["--no-sandbox", "--ignore-certificate-errors",
      "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
      "--disable-gpu", "--no-first-run", "--disable-extensions",
      "--disable-background-networking", "--disable-component-update"],
    protocolTimeout: 30000,
  });
  const watchdog = setTimeout(() => {
    console.log("not ok - the scenario finished within its time bound");
    browser.process()?.kill("SIGKILL");
    process.exit(1);
  }, boundSecs * 1000);
  async function openPage(user, instance) {
    const page = await browser.newPage();
    page.on("pageerror", (e) => console.log(`# ${user}: page error ${e.message}`));
    const q = new URLSearchParams({ user, domain: args.domain, ws: args.ws, instance });
    await page.goto(`file://${args.tmp}/jssip.html?${q}`);
    return page;
  }
  async function finish(failed) {
    clearTimeout(watchdog);
    await browser.close();
    process.exit(failed ? 1 : 0);
  }
  return { browser, openPage, finish };
}
