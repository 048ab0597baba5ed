#!/usr/bin/env node
import module from 'node:module';

// Node ≥ 22.8 keeps V8's compiled code on disk between runs (os.tmpdir()/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1
// turns it off): a run then skips compiling the bundle. Node 20 has no such cache and starts without it.
module.enableCompileCache?.();

// google-auth-library warns when it probes for a metadata server that is not there; the CLI reports missing credentials itself.
// Node shows some deprecations only for code outside node_modules (Buffer(), the punycode module, url.parse() on
// Node ≥ 24); in the bundle the dependencies' code is outside it, and node-fetch 2 and whatwg-url use all three.
// The project's own code uses none of them (and its tests, which run it unbundled, would show it if it did).
const DEPENDENCY_DEPRECATIONS = new Set(['DEP0005', 'DEP0040', 'DEP0169']);
const [printWarning] = process.listeners('warning');
if (printWarning) {
  process.removeListener('warning', printWarning);
  process.on('warning', (w) => w.name !== 'MetadataLookupWarning' && !DEPENDENCY_DEPRECATIONS.has(w.code) && printWarning(w));
}

// The CLI bundled with what it uses (scripts/bundle.mjs, run by `npm run build`): a handful of files to read and compile
// instead of 600-odd modules to resolve; each command's own code, and Google's clients, load only when it runs.
const { runCli } = await import('../dist/bundle/main.js');
const code = await runCli(process.argv.slice(2));
// Exit now, once output is flushed: a request abandoned at the deadline must not keep the process alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
