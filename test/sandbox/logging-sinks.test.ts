/** Cloud Logging's sinks (projects/P/sinks) in the sandbox, driven through @google-cloud/logging as the setup command uses it. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logging } from '@google-cloud/logging';
import { OAuth2Client } from 'google-auth-library';
import { beforeAll, describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/server.js';
import { INSTALL_HINT } from '../support/pubsub-emulator.js';
import { runCommand } from '../support/run-command.js';
import { PROJECT, http, statusOf, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
let logging: Logging;
const TOPIC = `pubsub.googleapis.com/projects/${PROJECT}/topics/jobmatch-drift-events`;

beforeAll(() => {
  const url = new URL(s.url);
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'sandbox', expiry_date: Date.now() + 3600_000 });
  // As the gax clients of src/gcp/clients.ts reach the sandbox: REST fallback, plain HTTP, host and port apart.
  const options: Record<string, unknown> = { projectId: PROJECT, fallback: true, apiEndpoint: url.hostname, port: Number(url.port), protocol: 'http', authClient };
  logging = new Logging(options as ConstructorParameters<typeof Logging>[0]);
});

describe('Logging sinks', () => {
  it('creates a sink with a unique writer identity, reads it back, and counts the calls', async () => {
    const number = s.sandbox.store.project(PROJECT).projectNumber;
    const [sink, created] = await logging.sink('drift').create({ destination: TOPIC, filter: 'logName:"cloudaudit.googleapis.com"', uniqueWriterIdentity: true } as never);
    expect(sink.name).toBe('drift');
    expect(created).toMatchObject({ name: 'drift', destination: TOPIC, writerIdentity: `serviceAccount:service-${number}@gcp-sa-logging.iam.gserviceaccount.com` });
    const [metadata] = await logging.sink('drift').getMetadata();
    expect(metadata).toMatchObject({ destination: TOPIC, filter: 'logName:"cloudaudit.googleapis.com"', disabled: false });
    expect(Number(metadata.createTime!.seconds)).toBeGreaterThan(0);
    expect(s.sandbox.stats.snapshot().byApi.logging).toEqual({ 'sinks.create': 1, 'sinks.get': 1 });
    expect(s.sandbox.stats.snapshot()).toMatchObject({ reads: 1, writes: 1 });
  });

  it('gives a sink created without uniqueWriterIdentity the shared writer, and makes it unique on request', async () => {
    const [, created] = await logging.createSink('shared', { destination: TOPIC } as never);
    expect(created.writerIdentity).toBe('serviceAccount:cloud-logs@system.gserviceaccount.com');
    const [updated] = await logging.configService.updateSink({ sinkName: `projects/${PROJECT}/sinks/shared`, sink: {}, updateMask: { paths: ['description'] }, uniqueWriterIdentity: true });
    expect(updated.writerIdentity).toMatch(/^serviceAccount:service-\d+@gcp-sa-logging\.iam\.gserviceaccount\.com$/);
  });

  it('updates with Sink#setMetadata (no mask: destination, filter, includeChildren) and with an updateMask', async () => {
    const [changed] = await logging.sink('drift').setMetadata({ filter: 'protoPayload.serviceName="storage.googleapis.com"' } as never);
    expect(changed).toMatchObject({ filter: 'protoPayload.serviceName="storage.googleapis.com"', destination: TOPIC });
    const [masked] = await logging.configService.updateSink({
      sinkName: `projects/${PROJECT}/sinks/drift`, sink: { description: 'drift events', filter: 'ignored: not in the mask' }, updateMask: { paths: ['description'] },
    });
    expect(masked).toMatchObject({ description: 'drift events', filter: 'protoPayload.serviceName="storage.googleapis.com"' });
    // PATCH with the mask in the query, as the REST reference writes it.
    const patched = await http(`${s.url}/v2/projects/${PROJECT}/sinks/drift?updateMask=disabled`, { method: 'PATCH', json: { disabled: true } });
    expect(patched.body).toMatchObject({ disabled: true, description: 'drift events' });
    expect(Date.parse(patched.body.updateTime)).toBeGreaterThanOrEqual(Date.parse(patched.body.createTime));
  });

  it('lists sinks, page by page', async () => {
    const [sinks] = await logging.getSinks();
    expect(sinks.map((x) => x.name).sort()).toEqual(['drift', 'shared']);
    const first = await http(`${s.url}/v2/projects/${PROJECT}/sinks?pageSize=1`);
    expect(first.body.sinks).toHaveLength(1);
    const second = await http(`${s.url}/v2/projects/${PROJECT}/sinks?pageSize=1&pageToken=${first.body.nextPageToken}`);
    expect(second.body.sinks.map((x: { name: string }) => x.name)).toEqual(['shared']);
    expect(second.body.nextPageToken).toBeUndefined();
  });

  it('deletes a sink; a deleted or unknown sink is NOT_FOUND', async () => {
    await logging.sink('shared').delete();
    expect(await statusOf(logging.sink('shared').getMetadata())).toBe(5);
    expect(await statusOf(logging.sink('shared').delete())).toBe(5);
    expect((await http(`${s.url}/v2/projects/${PROJECT}/sinks/shared`)).status).toBe(404);
  });

  it('refuses a duplicate, a bad name or destination, an unknown mask field, and a filter its router cannot evaluate, with Google\'s error body', async () => {
    expect(await statusOf(logging.createSink('drift', { destination: TOPIC } as never))).toBe(6); // ALREADY_EXISTS
    const bad = async (body: Record<string, unknown>, path = `/v2/projects/${PROJECT}/sinks`, method = 'POST') => {
      const r = await http(`${s.url}${path}`, { method, json: body });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      return r.body.error.message as string;
    };
    expect(await bad({ name: '-bad', destination: TOPIC })).toMatch(/Invalid sink name/);
    expect(await bad({ name: 'x' })).toMatch(/destination is required/);
    expect(await bad({ name: 'x', destination: 'pubsub.googleapis.com/projects/p/topics/ab' })).toMatch(/Invalid destination/);
    expect(await bad({ name: 'x', destination: TOPIC, filter: 'severity>=ERROR' })).toMatch(/not supported by the sandbox's Log Router: the >= operator/);
    expect(await bad({ name: 'x', destination: TOPIC, exclusions: [{ name: 'e', filter: 'SEARCH("a")' }] })).toMatch(/exclusions\[0\]\.filter/);
    expect(await bad({ writerIdentity: 'x' }, `/v2/projects/${PROJECT}/sinks/drift?updateMask=writerIdentity`, 'PUT')).toMatch(/cannot be updated: writerIdentity/);
    const sdk = await logging.createSink('x', { destination: TOPIC, filter: 'the cat' } as never).catch((e: { code: number; message: string }) => e);
    expect(sdk).toMatchObject({ code: 3 });
  });

  it('keeps sinks in the state file across restarts', async () => {
    const statePath = join(mkdtempSync(join(tmpdir(), 'jme-sinks-')), 'state.json');
    const first = await startSandbox({ statePath });
    const created = await http(`${first.url}/v2/projects/${PROJECT}/sinks`, { method: 'POST', json: { name: 'kept', destination: TOPIC } });
    expect(created.status).toBe(200);
    await first.close();
    const second = await startSandbox({ statePath });
    try {
      expect((await http(`${second.url}/v2/projects/${PROJECT}/sinks/kept`)).body).toMatchObject({ name: 'kept', destination: TOPIC });
    } finally {
      await second.close();
    }
  });

  it('answers gcloud logging sinks create, list and describe (CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING)', async () => {
    const env = {
      ...process.env, CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING: `${s.url}/`, CLOUDSDK_AUTH_ACCESS_TOKEN: 'sandbox',
      CLOUDSDK_CORE_DISABLE_PROMPTS: '1', CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'jme-gcloud-')),
    };
    const gcloud = async (...args: string[]) => {
      const run = await runCommand('gcloud', [...args, `--project=${PROJECT}`], { env });
      if (!run) throw new Error(`gcloud was not found: ${INSTALL_HINT}`);
      expect(run.stderr).not.toMatch(/ERROR/);
      expect(run.code).toBe(0);
      return run.stdout;
    };
    await gcloud('logging', 'sinks', 'create', 'from-gcloud', TOPIC, '--log-filter=logName:"activity"');
    expect(await gcloud('logging', 'sinks', 'list', '--format=value(name)')).toMatch(/^from-gcloud$/m);
    const described = JSON.parse(await gcloud('logging', 'sinks', 'describe', 'from-gcloud', '--format=json')) as Record<string, string>;
    expect(described).toMatchObject({ name: 'from-gcloud', destination: TOPIC, filter: 'logName:"activity"' });
    expect(described.writerIdentity).toMatch(/@gcp-sa-logging\.iam\.gserviceaccount\.com$/);
  });
});
