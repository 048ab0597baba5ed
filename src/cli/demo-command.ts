/**
 * `demo` (npm start): the operator's main job on a laptop. The controller (`run --manifests`) watches
 * manifests/examples against an in-process GCP sandbox and creates both environments; then, behind its
 * back and through Google's own client libraries, a person adds the external secrets' values and
 * someone breaks things one at a time — and the live view shows each one healed at the next resync,
 * with no command typed. Ctrl-C stops it cleanly; --once stops once the script is done (tests, CI).
 */
import { fileURLToPath } from 'node:url';
import { Controller } from '../controller/controller.js';
import { DirectoryStore } from '../controller/directory-store.js';
import type { EnvironmentStatus } from '../controller/inventory.js';
import { ControllerMetrics } from '../controller/metrics.js';
import { silentLogger } from '../engine/action-log.js';
import { PolicyWriter } from '../engine/policy-writer.js';
import { createGcpClients } from '../gcp/clients.js';
import { GcpCaller } from '../gcp/gcp-caller.js';
import { startSandbox } from '../sandbox/server.js';
import type { CliIo } from './io.js';
import { EXIT_ERROR, EXIT_OK } from './io.js';

const EXAMPLES = fileURLToPath(new URL('../../manifests/examples/', import.meta.url));
const PROJECT = 'job-match-v0';
const STAGING = 'jobmatch/staging';
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const secret = (name: string) => `projects/${PROJECT}/secrets/${name}`;

export interface DemoOptions {
  color: boolean;
  /** Stop after the script instead of waiting for Ctrl-C. */
  once?: boolean;
  resyncSeconds?: number;
  stop: Promise<void>;
}

const MARK = { True: '✓', False: '✗', Unknown: '·' } as const;

function line(key: string, status: EnvironmentStatus, color: boolean): string {
  const c = (type: string) => status.conditions?.find((x) => x.type === type);
  const ready = c('Ready');
  const drift = c('DriftDetected');
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const readyText = ready?.status === 'True' ? paint('32', 'Ready ✓') : paint('33', `Ready ✗ ${ready?.reason ?? ''}`);
  const counts = new Map<string, number>();
  for (const r of status.resources ?? []) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const driftText = drift?.status === 'True' ? paint('35', `drift healed: ${drift.message.length > 110 ? `${drift.message.slice(0, 110)}…` : drift.message}`) : 'no drift';
  return `${new Date().toISOString().slice(11, 19)}  ${key.padEnd(17)} ${readyText} · Synced ${MARK[c('Synced')?.status ?? 'Unknown']} · ${driftText}\n${' '.repeat(28)}${summary}\n`;
}

export async function demoCommand(io: CliIo, options: DemoOptions): Promise<number> {
  const resync = options.resyncSeconds ?? 4;
  const sandbox = await startSandbox();
  const say = (text: string) => io.stdout(`\n${options.color ? `\u001b[1m${text}\u001b[0m` : text}\n`);
  const logger = silentLogger();
  const store = new DirectoryStore(EXAMPLES, logger);
  const changed: ((key: string, status: EnvironmentStatus) => void)[] = [];
  const write = store.writeStatus.bind(store);
  store.writeStatus = async (object, status) => {
    await write(object, status);
    const key = `${object.manifest.metadata.namespace ?? 'default'}/${object.manifest.metadata.name}`;
    io.stdout(line(key, status, options.color));
    for (const listener of changed) listener(key, status);
  };
  /** Resolves at the next status write of `key` that satisfies `test`. */
  const until = (key: string, test: (s: EnvironmentStatus) => boolean) => new Promise<void>((resolve) => {
    const listener = (k: string, s: EnvironmentStatus) => {
      if (k === key && test(s)) {
        changed.splice(changed.indexOf(listener), 1);
        resolve();
      }
    };
    changed.push(listener);
  });
  const clients = createGcpClients({ projectId: PROJECT, endpoint: sandbox.url });
  const engine = { caller: new GcpCaller(), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } };
  const controller = new Controller({ store, engine, logger, metrics: new ControllerMetrics(), concurrency: 4, resyncSeconds: resync });
  const stopped = options.stop.then(() => 'stopped' as const);
  const step = async (title: string, change: () => Promise<unknown>, healed: (s: EnvironmentStatus) => boolean) => {
    say(`Behind the operator's back, through Google's own client: ${title}`);
    const seen = until(STAGING, healed);
    await change();
    return Promise.race([seen.then(() => 'healed' as const), stopped]);
  };
  const driftHealed = (field: string) => (s: EnvironmentStatus) => s.conditions?.some((c) => c.type === 'DriftDetected' && c.status === 'True' && c.message.includes(field)) ?? false;
  try {
    say(`The operator (run --manifests ${EXAMPLES}) against a local GCP sandbox at ${sandbox.url}; resync every ${resync} s. Ctrl-C stops it.`);
    const firstStaging = until(STAGING, () => true);
    controller.enqueue(await store.load());
    store.watch((keys, removed) => {
      controller.forget(removed);
      controller.enqueue(keys);
    });
    if ((await Promise.race([firstStaging.then(() => 'ok' as const), stopped])) === 'stopped') return EXIT_OK;
    const script: [string, () => Promise<unknown>, (s: EnvironmentStatus) => boolean][] = [
      ['a person adds the two external secrets\' values (what `gcloud secrets versions add` does)', async () => {
        for (const id of ['jobmatch-staging-llm-api-key', 'jobmatch-staging-france-travail-api-key']) {
          await clients.secrets.addSecretVersion({ parent: secret(id), payload: { data: Buffer.from('value-from-a-person') } });
        }
      }, (s) => s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false],
      ['versioning turned off on the bronze bucket', () => clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } }), driftHealed('versioning')],
      ['a label of the silver dataset changed', () => clients.bigquery.dataset('staging_silver').setMetadata({ labels: { layer: 'bronze' } }), driftHealed('labels.layer')],
      ['the VM\'s access to the Postgres password removed', async () => {
        const [policy] = await clients.secrets.getIamPolicy({ resource: secret('jobmatch-staging-postgres-password') });
        await clients.secrets.setIamPolicy({ resource: secret('jobmatch-staging-postgres-password'), policy: { bindings: [], etag: policy.etag } });
      }, driftHealed('IAMBinding secret/POSTGRES_PASSWORD')],
      ['every version of the Django secret key disabled', async () => {
        for (const v of (await clients.secrets.listSecretVersions({ parent: secret('jobmatch-staging-django-secret-key') }))[0]) await clients.secrets.disableSecretVersion({ name: v.name! });
      }, driftHealed('jobmatch-staging-django-secret-key')],
    ];
    for (const [title, change, healed] of script) {
      if ((await step(title, change, healed)) === 'stopped') return EXIT_OK;
    }
    say(options.once ? 'Every change was healed with no command typed.' : 'Every change was healed with no command typed. Still watching: edit manifests/examples/*.yaml and see it reconcile; Ctrl-C to stop.');
    if (!options.once) await options.stop;
    return EXIT_OK;
  } catch (e) {
    io.stderr(`error: ${(e as Error).message}\n`);
    return EXIT_ERROR;
  } finally {
    await controller.stop(1000);
    await store.close();
    await sandbox.close();
  }
}
