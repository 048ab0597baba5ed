/**
 * `jobmatch-operator drift-events setup` against the sandbox (the sink) and the real Pub/Sub emulator (topic,
 * subscription): it creates once, a second run writes nothing, a dry run writes nothing and says it with gcloud,
 * and what it sets up carries a drift event from a write to the controller's subscription.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PubSub } from '@google-cloud/pubsub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftEventsSetupReport } from '../../src/drift-events/drift-events-setup.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { cli } from '../support/cli.js';
import { exampleText } from '../support/manifests.js';
import { emulatorPubSub, freePort, readSubscription, usePubSubEmulator } from '../support/pubsub-emulator.js';

const e = usePubSubEmulator();
let sandbox: Sandbox;
let pubsub: PubSub;
let env: Record<string, string>;

beforeAll(async () => {
  sandbox = await startSandbox({ pubsubEmulator: e.emulator.host });
  pubsub = await emulatorPubSub(e.emulator.host);
  env = { JOBMATCH_GCP_ENDPOINT: sandbox.url, PUBSUB_EMULATOR_HOST: e.emulator.host };
});

afterAll(async () => {
  await pubsub?.close();
  await sandbox?.close();
});

const bin = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));
const setup = (...args: string[]) => cli(['drift-events', 'setup', ...args], undefined, env);

/** What the emulator holds for a project: its topics, and its subscriptions with their settings. */
async function emulatorState(project: string) {
  const client = await emulatorPubSub(e.emulator.host, project);
  try {
    const [topics] = await client.getTopics();
    const [subscriptions] = await client.getSubscriptions();
    return {
      topics: topics.map((t) => t.name).sort(),
      subscriptions: await Promise.all(subscriptions.map(async (s) => {
        const [m] = await s.getMetadata();
        return { name: m.name, topic: m.topic, ackDeadlineSeconds: m.ackDeadlineSeconds, retention: m.messageRetentionDuration, deadLetterPolicy: m.deadLetterPolicy, expirationPolicy: m.expirationPolicy, retryPolicy: m.retryPolicy };
      })),
    };
  } finally {
    await client.close();
  }
}

const actions = (report: DriftEventsSetupReport) => report.steps.map((s) => `${s.action} ${s.kind === 'grant' ? `${s.role} on ${s.name}` : s.name}`);

describe('drift-events setup', () => {
  it('creates the topics, the subscription and the sink once; a second run writes nothing', async () => {
    const P = 'drift-once';
    sandbox.stats.reset();
    const first = await setup('--project', P, '-o', 'json');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as DriftEventsSetupReport;
    expect(actions(report)).toEqual([
      `create projects/${P}/topics/jobmatch-drift-events`,
      `create projects/${P}/topics/jobmatch-drift-events-dead-letter`,
      `create projects/${P}/subscriptions/jobmatch-operator`,
      `create projects/${P}/sinks/jobmatch-drift-events`,
      `skip roles/pubsub.publisher on projects/${P}/topics/jobmatch-drift-events`,
      `skip roles/pubsub.publisher on projects/${P}/topics/jobmatch-drift-events-dead-letter`,
      `skip roles/pubsub.subscriber on projects/${P}/subscriptions/jobmatch-operator`,
    ]);
    expect(report.changed).toBe(true);
    const number = sandbox.store.project(P).projectNumber;
    expect(report.writerIdentity).toBe(`serviceAccount:service-${number}@gcp-sa-logging.iam.gserviceaccount.com`);
    expect(report.steps[4]).toMatchObject({ member: report.writerIdentity, detail: expect.stringMatching(/Pub\/Sub emulator implements no IAM/) });
    expect(sandbox.stats.snapshot().byApi.logging).toMatchObject({ 'sinks.create': 1 });
    const sink = (await fetch(`${sandbox.url}/v2/projects/${P}/sinks/jobmatch-drift-events`).then((r) => r.json())) as Record<string, string>;
    expect(sink).toMatchObject({ destination: `pubsub.googleapis.com/projects/${P}/topics/jobmatch-drift-events`, filter: report.filter, writerIdentity: report.writerIdentity });
    const state = await emulatorState(P);
    expect(state.topics).toEqual([`projects/${P}/topics/jobmatch-drift-events`, `projects/${P}/topics/jobmatch-drift-events-dead-letter`]);
    expect(state.subscriptions).toEqual([{
      name: `projects/${P}/subscriptions/jobmatch-operator`, topic: `projects/${P}/topics/jobmatch-drift-events`, ackDeadlineSeconds: 30,
      retention: { seconds: '86400', nanos: 0 }, deadLetterPolicy: { deadLetterTopic: `projects/${P}/topics/jobmatch-drift-events-dead-letter`, maxDeliveryAttempts: 5 },
      expirationPolicy: { ttl: null }, retryPolicy: { minimumBackoff: { seconds: '10', nanos: 0 }, maximumBackoff: { seconds: '600', nanos: 0 } },
    }]);

    sandbox.stats.reset();
    const second = await setup('--project', P);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^drift events, project drift-once:\n {2}in place {5}topic projects\/drift-once\/topics\/jobmatch-drift-events /);
    expect(second.stdout).toContain('Nothing to do: everything is in place.');
    expect(second.stdout).toContain('The controller reads projects/drift-once/subscriptions/jobmatch-operator.');
    expect(second.stdout).not.toMatch(/created|updated|granted|gcloud/);
    expect(sandbox.stats.snapshot().writes).toBe(0);
    expect(await emulatorState(P)).toEqual(state);
  });

  it('carries a write on an operator resource to the subscription it made, as the Log Router would', async () => {
    const P = 'drift-flow';
    expect((await setup('--project', P)).code).toBe(0);
    const reader = readSubscription(pubsub.subscription(`projects/${P}/subscriptions/jobmatch-operator`));
    try {
      const storage = createGcpClients({ projectId: P, endpoint: sandbox.url }).storage;
      await storage.createBucket('other-team-data');
      await storage.createBucket('jobmatch-flow-bronze');
      await storage.bucket('jobmatch-flow-bronze').setMetadata({ versioning: { enabled: false } });
      await sandbox.auditLog.flush();
      const messages = await reader.next(2);
      expect(messages.map((m) => m.json.protoPayload.methodName).sort()).toEqual(['storage.buckets.create', 'storage.buckets.update']);
      expect(messages.every((m) => m.json.protoPayload.resourceName === 'projects/_/buckets/jobmatch-flow-bronze')).toBe(true);
      expect(messages.every((m) => m.attributes['logging.googleapis.com/timestamp'] === m.json.timestamp)).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it('with --dry-run reads, writes nothing, and prints what it would do with the gcloud commands', async () => {
    const P = 'drift-dry';
    sandbox.stats.reset();
    const run = await setup('--project', P, '--dry-run', '--topic', 'my-events', '--subscription', 'my-operator');
    expect(run.code).toBe(0);
    expect(sandbox.stats.snapshot().writes).toBe(0);
    expect(await emulatorState(P)).toEqual({ topics: [], subscriptions: [] });
    expect(run.stdout).toContain('drift events, project drift-dry (dry run: nothing is written):');
    expect(run.stdout).toContain('would create topic projects/drift-dry/topics/my-events (the sink publishes here)');
    expect(run.stdout).toContain("would grant  roles/pubsub.publisher to the sink's writer identity on projects/drift-dry/topics/my-events");
    const number = sandbox.store.project(P).projectNumber;
    const commands = run.stdout.slice(run.stdout.indexOf('The same with gcloud:')).split('\n').filter((l) => l.startsWith('  gcloud ')).map((l) => l.trim());
    expect(commands).toEqual([
      'gcloud pubsub topics create my-events --project=drift-dry',
      'gcloud pubsub topics create my-events-dead-letter --project=drift-dry',
      'gcloud pubsub subscriptions create my-operator --project=drift-dry --topic=my-events --ack-deadline=30 --message-retention-duration=1d '
        + '--dead-letter-topic=my-events-dead-letter --max-delivery-attempts=5 --expiration-period=never --min-retry-delay=10s --max-retry-delay=600s',
      expect.stringMatching(/^gcloud logging sinks create jobmatch-drift-events pubsub\.googleapis\.com\/projects\/drift-dry\/topics\/my-events --project=drift-dry --log-filter='logName="projects\/drift-dry\/logs\/cloudaudit\.googleapis\.com%2Factivity" AND .*' --description='.*'$/),
      'gcloud pubsub topics add-iam-policy-binding my-events --project=drift-dry '
        + `--member="$(gcloud logging sinks describe jobmatch-drift-events --project=drift-dry --format='value(writerIdentity)')" --role=roles/pubsub.publisher`,
      `gcloud pubsub topics add-iam-policy-binding my-events-dead-letter --project=drift-dry --member=serviceAccount:service-${number}@gcp-sa-pubsub.iam.gserviceaccount.com --role=roles/pubsub.publisher`,
      `gcloud pubsub subscriptions add-iam-policy-binding my-operator --project=drift-dry --member=serviceAccount:service-${number}@gcp-sa-pubsub.iam.gserviceaccount.com --role=roles/pubsub.subscriber`,
    ]);
  });

  it('brings a drifted subscription and sink back, and then has nothing to do', async () => {
    const P = 'drift-heal';
    expect((await setup('--project', P)).code).toBe(0);
    await pubsub.subscription(`projects/${P}/subscriptions/jobmatch-operator`).setMetadata({ ackDeadlineSeconds: 600 });
    await fetch(`${sandbox.url}/v2/projects/${P}/sinks/jobmatch-drift-events?updateMask=filter`, { method: 'PATCH', body: JSON.stringify({ filter: 'logName:"activity"' }) });
    const dry = await setup('--project', P, '--dry-run', '-o', 'json');
    const planned = JSON.parse(dry.stdout) as DriftEventsSetupReport;
    expect(planned.steps.filter((s) => s.action === 'update').map((s) => [s.name, s.detail, s.gcloud])).toEqual([
      [`projects/${P}/subscriptions/jobmatch-operator`, 'ack deadline 600s → 30s', ['gcloud pubsub subscriptions update jobmatch-operator --project=drift-heal --ack-deadline=30']],
      [`projects/${P}/sinks/jobmatch-drift-events`, 'filter set as declared', [expect.stringMatching(/^gcloud logging sinks update jobmatch-drift-events /)]],
    ]);
    const healed = JSON.parse((await setup('--project', P, '-o', 'json')).stdout) as DriftEventsSetupReport;
    expect(healed.steps.filter((s) => s.action === 'update')).toHaveLength(2);
    const [m] = await pubsub.subscription(`projects/${P}/subscriptions/jobmatch-operator`).getMetadata();
    expect(m.ackDeadlineSeconds).toBe(30);
    sandbox.stats.reset();
    const again = JSON.parse((await setup('--project', P, '-o', 'json')).stdout) as DriftEventsSetupReport;
    expect(again.changed).toBe(false);
    expect(sandbox.stats.snapshot().writes).toBe(0);
  });

  it('takes the project and the declared names from -f manifests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jme-drift-'));
    const file = join(dir, 'staging.yaml');
    writeFileSync(file, exampleText('staging').replace('projectId: job-match-v0', 'projectId: drift-manifests').replaceAll('jobmatch-staging-bronze-job-match-v0', 'legacy-bronze-data'));
    const run = await setup('-f', file, '--dry-run', '-o', 'json');
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as DriftEventsSetupReport;
    expect(report.project).toBe('drift-manifests');
    expect(report.filter).toContain('protoPayload.resourceName=("projects/_/buckets/legacy-bronze-data")');
    expect(report.filter).not.toContain('"/instances/jobmatch-staging-vm"'); // covered by the prefix
  });

  it('refuses bad options and unreachable services in one line a person can act on, exit 1', async () => {
    const cases: [args: string[], env: Record<string, string>, message: RegExp][] = [
      [['--project', 'drift-bad', '--topic', 'ab'], env, /--topic must be 3 to 255 letters/],
      [['--project', 'Bad_Project'], env, /--project must be a project id/],
      [[], env, /pass --project PROJECT_ID/],
      [['--project', 'drift-bad', '-o', 'yaml'], env, /--output must be text or json/],
      [['--project', 'drift-bad'], { PUBSUB_EMULATOR_HOST: e.emulator.host }, /needs the sandbox for the sink: pass --gcp-endpoint/],
      [['--project', 'drift-bad'], { JOBMATCH_GCP_ENDPOINT: sandbox.url }, /needs a Pub\/Sub emulator for the topic/],
      [['--project', 'drift-bad', '--pubsub-emulator', 'localhost'], env, /must be HOST:PORT/],
    ];
    for (const [args, runEnv, message] of cases) {
      const run = await cli(['drift-events', 'setup', ...args], undefined, runEnv);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    }
    const nobody = `127.0.0.1:${await freePort()}`;
    const noEmulator = await cli(['drift-events', 'setup', '--project', 'drift-bad', '--timeout', '1', '-o', 'json'], undefined, { ...env, PUBSUB_EMULATOR_HOST: nobody });
    expect(noEmulator.code).toBe(1);
    expect(noEmulator.stderr).toMatch(new RegExp(`^error: cannot reach the Pub/Sub emulator at ${nobody} \\(.*\\): is it running\\? Start it with: gcloud beta emulators pubsub start --host-port=${nobody}\\n$`));
    expect(JSON.parse(noEmulator.stdout).error).toMatch(/cannot reach the Pub\/Sub emulator/);
    const noSandbox = await cli(['drift-events', 'setup', '--project', 'drift-once', '--timeout', '2'], undefined, { ...env, JOBMATCH_GCP_ENDPOINT: `http://127.0.0.1:${await freePort()}` });
    expect(noSandbox.code).toBe(1);
    expect(noSandbox.stderr).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:\d+ \(.*\): is the sandbox running\? Start it with: jobmatch-operator sandbox\n$/);
  });

  it('works from the bundled CLI: sandbox --pubsub-emulator, then drift-events setup, then a write arrives as an event', async () => {
    const P = 'drift-bundle';
    const sandboxProcess = spawn(process.execPath, [bin, 'sandbox', '--port', '0', '--pubsub-emulator', e.emulator.host], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    sandboxProcess.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      const [line] = (await once(createInterface({ input: sandboxProcess.stdout! }), 'line')) as [string];
      const url = /listening on (http:\/\/\S+)/.exec(line)![1]!;
      const run = spawn(process.execPath, [bin, 'drift-events', 'setup', '--project', P], { env: { ...process.env, JOBMATCH_GCP_ENDPOINT: url, PUBSUB_EMULATOR_HOST: e.emulator.host } });
      let out = '';
      run.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      run.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const [code] = (await once(run, 'exit')) as [number];
      expect(out).toContain(`created      sink projects/${P}/sinks/jobmatch-drift-events`);
      expect(code).toBe(0);
      const reader = readSubscription(pubsub.subscription(`projects/${P}/subscriptions/jobmatch-operator`));
      try {
        await fetch(`${url}/storage/v1/b?project=${P}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'jobmatch-bundle-bucket' }) });
        const [event] = await reader.next(1);
        expect(event!.json.protoPayload).toMatchObject({ methodName: 'storage.buckets.create', resourceName: 'projects/_/buckets/jobmatch-bundle-bucket' });
      } finally {
        await reader.close();
      }
      expect(stderr).toContain(`audit-log entries of writes go to the Pub/Sub emulator at ${e.emulator.host}`);
    } finally {
      sandboxProcess.kill('SIGTERM');
      await once(sandboxProcess, 'exit');
    }
  });
});
