#!/usr/bin/env node
// google-auth-library warns when it probes for a metadata server that is not there; the CLI reports missing credentials itself.
const [printWarning] = process.listeners('warning');
if (printWarning) {
  process.removeListener('warning', printWarning);
  process.on('warning', (w) => w.name !== 'MetadataLookupWarning' && printWarning(w));
}

const { runCli } = await import('../dist/cli/main.js');
const code = await runCli(process.argv.slice(2));
// Exit now, once output is flushed: a request abandoned at the deadline must not keep the process alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
