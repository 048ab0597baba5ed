/**
 * `demo` (npm start): the main job end to end on a laptop — the sandbox in-process, plan and apply the
 * staging example, an out-of-band change through Google's own clients, plan catching it, apply healing it.
 */
import { fileURLToPath } from 'node:url';
import { createGcpClients } from '../gcp/clients.js';
import { startSandbox } from '../sandbox/server.js';
import type { CliIo } from './io.js';
import { EXIT_ERROR, EXIT_OK } from './io.js';
import { runReconcile } from './reconcile-command.js';

const STAGING = fileURLToPath(new URL('../../manifests/examples/staging.yaml', import.meta.url));
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const PG = 'projects/job-match-v0/secrets/jobmatch-staging-postgres-password';

export async function demoCommand(io: CliIo, color: boolean): Promise<number> {
  const sandbox = await startSandbox();
  const say = (text: string) => io.stdout(`\n${color ? `\u001b[1m${text}\u001b[0m` : text}\n\n`);
  let logLines = 0;
  let sampleLog = '';
  const quietIo: CliIo = {
    ...io,
    stderr: (t) => {
      logLines += t.split('\n').filter(Boolean).length;
      if (!sampleLog && t.includes('"event":"action"') && t.includes('"dryRun":false')) sampleLog = t.trim();
    },
  };
  const step = async (title: string, mode: 'plan' | 'apply') => {
    say(`$ jobmatch-operator ${mode} -f manifests/examples/staging.yaml --gcp-endpoint ${sandbox.url}    # ${title}`);
    sandbox.stats.reset();
    const run = await runReconcile(quietIo, mode, { filename: [STAGING], gcpEndpoint: sandbox.url, logLevel: 'info' }, { color, stderrTty: false });
    const { reads, writes } = sandbox.stats.snapshot();
    io.stdout(`  exit ${run.code} · ${reads} GCP reads, ${writes} writes\n`);
    return run.code;
  };
  try {
    say(`Local GCP sandbox at ${sandbox.url} (Storage, BigQuery, Secret Manager, Resource Manager, Compute).`);
    await step('a new environment: everything to create', 'plan');
    await step('create it', 'apply');
    await step('in sync: reads only', 'plan');
    say('Out-of-band changes through Google\'s own clients: versioning off, a dataset label changed, an IAM binding removed, a secret\'s versions disabled.');
    const c = createGcpClients({ projectId: 'job-match-v0', endpoint: sandbox.url });
    await c.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } });
    await c.bigquery.dataset('staging_silver').setMetadata({ labels: { layer: 'bronze' } });
    const [policy] = await c.secrets.getIamPolicy({ resource: PG });
    await c.secrets.setIamPolicy({ resource: PG, policy: { bindings: [], etag: policy.etag } });
    for (const v of (await c.secrets.listSecretVersions({ parent: PG }))[0]) await c.secrets.disableSecretVersion({ name: v.name! });
    const drift = await step('drift detected', 'plan');
    await step('heal it', 'apply');
    const final = await step('in sync again', 'plan');
    say(`Every observation and action was also logged as one JSON line (plan and apply write them to stderr; ${logLines} lines here), e.g.:`);
    io.stdout(`${sampleLog}\n`);
    return drift === 2 && final === 0 ? EXIT_OK : EXIT_ERROR;
  } finally {
    await sandbox.close();
  }
}
