// The web client's end-to-end tests: real Chromium, driven by
// playwright-core, against a running Parley node.
//
//   node web/e2e/run.mjs http://127.0.0.1:8080 [case ...]
//
// cmd/parley/web_test.go starts a node and runs this; PARLEY_SCREENSHOTS
// names a directory to write the README's screenshots into.
import { launch, base } from "./lib.mjs";
import { cases, prepare } from "./cases.mjs";

const only = process.argv.slice(3);
const browser = await launch();
prepare(only);
let failed = 0;
const started = Date.now();
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
}
await browser.close();
console.log(`${failed ? "FAIL" : "ok"}: ${base} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
process.exit(failed ? 1 : 0);
