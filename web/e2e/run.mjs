// The web client's end-to-end tests: real Chromium, driven by
// playwright-core, against a running Parley node.
//
//   node web/e2e/run.mjs http://127.0.0.1:8080 [case ...]
//
// cmd/parley/web_test.go starts a node and runs this; PARLEY_SCREENSHOTS
// names a directory to write the README's screenshots into.
import { launch, base } from "./lib.mjs";
import { cases, prepare, quiet } from "./cases.mjs";

const only = process.argv.slice(3);
const browser = await launch();
let failed = 0;
const started = Date.now();
// The seeding starts once the quiet cases that will run have run.
const waitFor = new Set(quiet.filter((n) => !only.length || only.includes(n)));
let prepared = false;
const ready = () => {
  if (!prepared && waitFor.size === 0) {
    prepared = true;
    prepare(only);
  }
};
ready();
for (const [name, fn] of Object.entries(cases)) {
  if (only.length && !only.includes(name)) continue;
  const t0 = Date.now();
  try {
    await fn(browser);
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s): ${e.stack || e}`);
  }
  waitFor.delete(name);
  ready();
}
await browser.close();
console.log(`${failed ? "FAIL" : "ok"}: ${base} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
process.exit(failed ? 1 : 0);
