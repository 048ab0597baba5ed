/**
 * The VM rollout end to end through `apply`: the sandbox's Compute API and per-VM metadata server, the
 * real agent (vm-agent/jobmatch-agent.sh) under sh, with recording docker and git stand-ins.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderEnvFile } from '../../src/api/env-file.js';
import { loadManifests } from '../../src/api/manifests.js';
import { contentHash } from '../../src/api/config-hash.js';
import { secretId } from '../../src/api/naming.js';
import { signatureMatches } from '../../src/kinds/deployment/signing.js';
import { connect } from '../../src/engine/connection.js';
import { PlanExecutor } from '../../src/engine/execute.js';
import { observeEnvironment, observeResource } from '../../src/engine/observe.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { KINDS } from '../../src/kinds/registry.js';
import { diff, planResource } from '../../src/plan/diff.js';
import { allOutput, engine, FAST_RETRY } from '../support/engine.js';
import { gcloudAgainst } from '../support/gcloud.js';
import { leaks } from '../support/leaks.js';
import { OPERATOR_PRINCIPAL } from '../../src/sandbox/principals.js';
import { mutated, type Doc } from '../support/manifests.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';
import { pushAgentMetadata, startAgent, startHealthServer, stopAllAgents, type Agent, type HealthServer } from '../support/vm-agent.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const VM = 'jobmatch-staging-vm';
const SA = 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
const ID = `Deployment/${ZONE}/${VM}`;
const where = { project: PROJECT, zone: ZONE, instance: VM };
const s = useSandbox({
  seed: { projects: [{ projectId: PROJECT, projectNumber: '123456789012', instances: [{ name: VM, zone: ZONE, serviceAccount: SA, metadata: { 'startup-script': '#!/bin/sh\necho keep me' } }] }] },
}, { compute: true });

let agent: Agent;
let health: HealthServer;

beforeAll(async () => {
  health = await startHealthServer(200);
  agent = await startAgent({ metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, VM)}/computeMetadata/v1` });
});

afterAll(async () => {
  await stopAllAgents();
  await health?.close();
});

/** The staging example deploying into the agent's directory, with its health check on the test's server. */
function manifest(mutate: (d: Doc) => void = () => undefined): string {
  return mutated((d) => {
    d.spec.app.compose.directory = agent.dir;
    d.spec.app.healthCheck = { url: health.url, timeoutSeconds: 3 };
    mutate(d);
  });
}

const specOf = (text: string) => loadManifests([{ file: 's', text }]).environments[0]!.spec;
const setMetadataCalls = () => s.sandbox.stats.snapshot().byApi.compute?.['instances.setMetadata'] ?? 0;
const composeCalls = (command: string) => agent.calls().filter((c) => c.tool === 'docker' && c.command === command);
const metadata = async () => Object.fromEntries(((await s.compute.instances.get(where))[0].metadata?.items ?? []).map((i) => [i.key, i.value]));
const deployment = (run: Awaited<ReturnType<typeof engine>>) => run.reports[0]!.plan.actions.find((a) => a.id === ID)!;
/** The deploy key's newest version, as the sandbox holds it: what the agent would read. */
const deployKey = () => {
  const versions = s.sandbox.store.project(PROJECT).secrets['jobmatch-staging-deploy-key']!.versions;
  return { key: Buffer.from(versions.at(-1)!.data, 'base64'), version: String(versions.length) };
};
/** The metadata on the VM is signed with the deploy key's newest version. */
async function expectSigned(): Promise<Record<string, string>> {
  const m = await metadata();
  const { key, version } = deployKey();
  expect(m['jobmatch-config-key-version']).toBe(version);
  expect(m['jobmatch-config-hash']!.split('#')[0]).toBe(contentHash(m));
  expect(signatureMatches(key, m['jobmatch-config-hash']!, m['jobmatch-config-serial']!, m['jobmatch-config-signature'])).toBe(true);
  return m;
}

describe('the VM rollout through apply', () => {
  it('never starts while a declared secret has no enabled version: SecretsMissing, no setMetadata', async () => {
    const apply = await engine('apply', s.url, manifest());
    expect(deployment(apply)).toMatchObject({ verb: 'pending', message: expect.stringMatching(/^SecretsMissing: .*LLM_API_KEY has no enabled version.*FRANCE_TRAVAIL_API_KEY has no enabled version/) });
    expect(setMetadataCalls()).toBe(0);
    expect(apply.stdout).toMatch(/! Deployment europe-west1-b\/jobmatch-staging-vm \(pending\)/);
    expect(apply.stdout).toMatch(/Ready: no/);
  });

  it('rolls out once the value exists: one setMetadata, the agent pulls then ups with the exact .env, Deployed; other keys kept', async () => {
    const text = manifest();
    for (const secret of specOf(text).secrets.filter((x) => x.source === 'external')) {
      await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/${secretId('staging', secret.name)}`, payload: { data: Buffer.from('a person typed this') } });
    }
    const plan = await engine('plan', s.url, text);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toMatch(/~ Deployment europe-west1-b\/jobmatch-staging-vm\n\s+config\s+\(none\) → "sha256:[0-9a-f]{64}"/);
    expect(plan.stdout).toMatch(/env\.POSTGRES_HOST\s+\(none\) → "db"/);
    s.sandbox.stats.reset();
    const apply = await engine('apply', s.url, text);
    expect(apply.code).toBe(0);
    expect(apply.reports[0]!.results![ID]).toMatchObject({ outcome: 'ok' });
    expect(apply.reports[0]!.after!.actions.find((a) => a.id === ID)!.verb).toBe('none');
    expect(setMetadataCalls()).toBe(1);
    expect(agent.calls().filter((c) => c.tool === 'docker').map((c) => c.command)).toEqual(['pull', 'up']);
    expect(composeCalls('up')[0]!.argv).toEqual(expect.arrayContaining(['up', '-d', '--remove-orphans']));
    const env = renderEnvFile(specOf(text));
    expect(composeCalls('up')[0]!.env).toBe(env);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(env);
    expect(statSync(join(agent.dir, '.env')).mode & 0o777).toBe(0o600);
    expect((await metadata())['startup-script']).toBe('#!/bin/sh\necho keep me');
    expect(await agent.guest()).toMatchObject({ status: 'ok', 'applied-hash': expect.stringMatching(/^sha256:/) });
    // Signed with the deploy key generated in the same apply, which the VM's service account may read.
    expect(deployKey().key).toHaveLength(43);
    const signed = await expectSigned();
    expect(Number(signed['jobmatch-config-serial'])).toBeGreaterThanOrEqual(Date.now() - 60_000);
    const keyPolicy = s.sandbox.store.project(PROJECT).secrets['jobmatch-staging-deploy-key']!.policy;
    expect(keyPolicy.bindings).toEqual([{ role: 'roles/secretmanager.secretAccessor', members: [`serviceAccount:${SA}`] }]);
  });

  it('costs reads only when nothing changed: zero setMetadata, plan exit 0', async () => {
    const plan = await engine('plan', s.url, manifest());
    expect(plan.code).toBe(0);
    expect(deployment(plan).verb).toBe('none');
    const apply = await engine('apply', s.url, manifest());
    expect(apply.code).toBe(0);
    expect(setMetadataCalls()).toBe(0);
    expect(s.sandbox.stats.snapshot().writes).toBe(0);
    expect(composeCalls('up')).toHaveLength(1);
  });

  it('rolls a config change out, listing the changed .env keys; values such as $(reboot) are written literally', async () => {
    const hostile = { POSTGRES_HOST: 'db2', NOTE: '$(reboot); rm -rf / `id` "quoted"' };
    const text = manifest((d) => Object.assign(d.spec.app.config, hostile));
    const plan = await engine('plan', s.url, text);
    expect(plan.stdout).toMatch(/env\.POSTGRES_HOST\s+"db" → "db2"/);
    expect(plan.stdout).toMatch(/env\.NOTE\s+\(none\) → /);
    const apply = await engine('apply', s.url, text);
    expect(apply.code).toBe(0);
    expect(setMetadataCalls()).toBe(1);
    expect(composeCalls('up')).toHaveLength(2);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(renderEnvFile(specOf(text)));
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toContain(`NOTE='${hostile.NOTE}'`);
    expect(agent.calls().filter((c) => c.tool === 'reboot')).toEqual([]);
  });

  it('signs again, with no rollout, when the deploy key gets a new version; each push has a greater serial', async () => {
    const before = await expectSigned();
    await s.clients.secrets.addSecretVersion({ parent: `projects/${PROJECT}/secrets/jobmatch-staging-deploy-key`, payload: { data: Buffer.from('a rotated deploy key, typed by a person') } });
    const text = manifest((d) => Object.assign(d.spec.app.config, { POSTGRES_HOST: 'db2', NOTE: '$(reboot); rm -rf / `id` "quoted"' }));
    const plan = await engine('plan', s.url, text);
    expect(deployment(plan)).toMatchObject({ verb: 'update', changes: [{ field: 'signature', before: `deploy key version ${before['jobmatch-config-key-version']}`, after: `deploy key version ${deployKey().version}` }] });
    s.sandbox.stats.reset();
    const ups = composeCalls('up').length;
    expect((await engine('apply', s.url, text)).code).toBe(0);
    expect(setMetadataCalls()).toBe(1);
    expect(composeCalls('up')).toHaveLength(ups);
    const after = await expectSigned();
    expect(after['jobmatch-config-hash']).toBe(before['jobmatch-config-hash']);
    expect(BigInt(after['jobmatch-config-serial']!)).toBeGreaterThan(BigInt(before['jobmatch-config-serial']!));
    expect((await engine('plan', s.url, text)).code).toBe(0);
  });

  it('a jobmatch-env forged with the real gcloud (its hash recomputed, no key) is refused by the agent: RolloutFailed, the signature did not match, the previous .env keeps running; apply writes the declared one back', async () => {
    const text = manifest((d) => Object.assign(d.spec.app.config, { POSTGRES_HOST: 'db2', NOTE: '$(reboot); rm -rf / `id` "quoted"' }));
    const before = await metadata();
    const running = readFileSync(join(agent.dir, '.env'), 'utf8');
    const ups = composeCalls('up').length;
    const forgedEnv = `${before['jobmatch-env']}POSTGRES_HOST=attacker.example\n`;
    const forged = contentHash({ ...before, 'jobmatch-env': forgedEnv });
    const file = join(agent.dir, '..', 'forged.env');
    writeFileSync(file, forgedEnv);
    const gcloud = gcloudAgainst(s.url, PROJECT);
    const wrote = await gcloud('compute', 'instances', 'add-metadata', VM, `--zone=${ZONE}`, `--metadata-from-file=jobmatch-env=${file}`, `--metadata=jobmatch-config-hash=${forged}`);
    expect(wrote.code, wrote.stderr).toBe(0);
    const refused = await agent.waitFor(({ guest }) => guest['attempted-hash'] === forged && guest.status === 'failed' && guest, { what: 'the forged configuration refused' });
    expect(refused.message).toMatch(/signature did not match/);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(running);
    expect(composeCalls('up')).toHaveLength(ups);
    const plan = await engine('plan', s.url, text);
    expect(plan.code).toBe(2);
    expect(deployment(plan)).toMatchObject({ verb: 'update', message: expect.stringMatching(new RegExp(`^RolloutFailed: the VM agent refused ${forged}, which the operator did not write: .*signature did not match.*the VM still runs ${before['jobmatch-config-hash']}`)) });
    expect(plan.stdout).toMatch(/RolloutFailed: the VM agent refused/);
    const apply = await engine('apply', s.url, text);
    expect(apply.code).toBe(0);
    expect(await expectSigned()).toMatchObject({ 'jobmatch-env': before['jobmatch-env'], 'jobmatch-config-hash': before['jobmatch-config-hash'] });
    await agent.waitFor(({ guest }) => guest.status === 'ok' && guest['applied-hash'] === before['jobmatch-config-hash'], { what: 'the declared configuration reported again' });
    expect(composeCalls('up')).toHaveLength(ups);
    expect((await engine('plan', s.url, text)).code).toBe(0);
  });

  it('reports a failed health check as the agent said it, with the previous stack restored; --redeploy tries again', async () => {
    const good = readFileSync(join(agent.dir, '.env'), 'utf8');
    health.status = 500;
    const text = manifest((d) => Object.assign(d.spec.app.config, { POSTGRES_HOST: 'db3', NOTE: 'x' }));
    const apply = await engine('apply', s.url, text);
    expect(apply.code).toBe(1);
    expect(apply.reports[0]!.results![ID]).toMatchObject({ outcome: 'error', error: expect.stringMatching(/^RolloutFailed: .*rolled back to sha256:/) });
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(good);
    expect(composeCalls('up')).toHaveLength(4); // the new stack, then the previous one again
    // The failure stays reported, and is not pushed again in a loop.
    const plan = await engine('plan', s.url, text);
    expect(plan.code).toBe(1);
    expect(deployment(plan)).toMatchObject({ verb: 'error', message: expect.stringMatching(/could not apply .*--redeploy/) });
    health.status = 200;
    s.sandbox.stats.reset();
    const again = await engine('apply', s.url, text, { redeploy: true });
    expect(again.code).toBe(0);
    expect(setMetadataCalls()).toBe(1);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(renderEnvFile(specOf(text)));
    // A redeployed config is in sync for a plan without --redeploy.
    expect((await engine('plan', s.url, text)).code).toBe(0);
  });

  it('re-reads and re-plans when another writer changes the metadata between plan and push (412): its key is kept', async () => {
    const env = loadManifests([{ file: 's', text: manifest((d) => (d.spec.app.config.POSTGRES_HOST = 'db4')) }]).environments[0]!;
    const conn = connect(KINDS, createGcpClients({ projectId: PROJECT, endpoint: s.url }), PROJECT, new GcpCaller({ retry: FAST_RETRY }));
    const observed = await observeEnvironment(env.spec, conn, new Date());
    const plan = diff(env.spec, observed, KINDS);
    expect(plan.actions.find((a) => a.id === ID)!.verb).toBe('update');
    await pushAgentMetadata(s.compute, where, { 'someone-else': 'was here' });
    s.sandbox.stats.reset();
    let latest = observed;
    const replan = async (id: string) => planResource(env.spec, (latest = await observeResource(env.spec, conn, latest, id)), KINDS, id);
    const results = await new PlanExecutor(conn, replan, { conflictBackoffMs: 1 }).execute(plan);
    expect(results.get(ID)).toMatchObject({ outcome: 'ok' });
    const calls = s.sandbox.stats.requests().filter((r) => r.op === 'instances.setMetadata');
    expect(calls.map((r) => r.status)).toEqual([412, 200]);
    expect(await metadata()).toMatchObject({ 'someone-else': 'was here', 'startup-script': '#!/bin/sh\necho keep me', 'jobmatch-env': renderEnvFile(env.spec) });
  });

  it('a VM that does not exist is a conflict; a stopped VM waits', async () => {
    const missing = await engine('plan', s.url, manifest((d) => (d.spec.vm.name = 'not-there')));
    expect(missing.code).toBe(1);
    expect(missing.reports[0]!.plan.actions.find((a) => a.kind === 'Deployment')).toMatchObject({ verb: 'conflict', message: expect.stringMatching(/create the VM/) });
    s.sandbox.store.project(PROJECT).instances[`${ZONE}/${VM}`]!.resource.status = 'TERMINATED';
    try {
      const stopped = await engine('plan', s.url, manifest((d) => (d.spec.app.config.POSTGRES_HOST = 'db5')));
      expect(deployment(stopped)).toMatchObject({ verb: 'pending', message: expect.stringMatching(/is TERMINATED: .*gcloud compute instances start/) });
    } finally {
      s.sandbox.store.project(PROJECT).instances[`${ZONE}/${VM}`]!.resource.status = 'RUNNING';
    }
  });

  it('another environment naming this VM writes nothing to it: the agent reported whose VM it is (jobmatch/environment)', async () => {
    const before = await metadata();
    s.sandbox.stats.reset();
    const apply = await engine('apply', s.url, manifest((d) => {
      d.spec.environment = 'qa';
      d.spec.envMode = 'staging';
    }));
    expect(apply.code, apply.stderr).toBe(1);
    expect(apply.reports, apply.stderr).toHaveLength(1);
    const action = apply.reports[0]!.plan.actions.find((a) => a.kind === 'Deployment');
    expect(action).toMatchObject({ verb: 'conflict', steps: [], message: expect.stringMatching(/^VMOfAnotherEnvironment: VM jobmatch-staging-vm serves environment "staging" .*not "qa": nothing is written to it/) });
    expect(setMetadataCalls()).toBe(0);
    expect(await metadata()).toEqual(before);
  });

  it('works from the bundled CLI too (its trimmed Compute protos): a rollout applied, then the config plans in sync', async () => {
    const text = manifest((d) => Object.assign(d.spec.app.config, { POSTGRES_HOST: 'db-bundled' }));
    const file = join(agent.dir, '..', 'manifest.yaml');
    writeFileSync(file, text);
    // Asynchronously: the sandbox answering it lives in this process (execFile rejects on a non-zero exit).
    // With the Google SDK's own debug log on: the deploy key the push reads must not be in it.
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [BIN, ...args, '-f', file, '--gcp-endpoint', s.url, '--log-level', 'silent'],
      { env: { ...process.env, GOOGLE_SDK_NODE_LOGGING: '*' } });
    s.sandbox.stats.reset();
    const applied = await cli('apply');
    const keyReads = s.sandbox.stats.requests().filter((r) => r.op === 'versions.access');
    expect(keyReads.map((r) => r.principal)).toEqual([OPERATOR_PRINCIPAL, `serviceAccount:${SA}`]); // the operator's push, then the agent's check
    expect(applied.stderr).toMatch(/\[resource-manager\|INFO\]/); // the SDK's debug log was on (Secret Manager's own is silenced)
    expect(leaks([deployKey().key.toString()], applied.stdout + applied.stderr)).toEqual([]);
    expect(setMetadataCalls()).toBe(1);
    expect(readFileSync(join(agent.dir, '.env'), 'utf8')).toBe(renderEnvFile(specOf(text)));
    expect((await cli('plan')).stdout).toMatch(/No changes/);
  });

  it('never prints a secret value, in any output, nor the deploy key, which is nowhere in the VM\'s metadata either', async () => {
    const keys = s.sandbox.store.project(PROJECT).secrets['jobmatch-staging-deploy-key']!.versions.map((v) => Buffer.from(v.data, 'base64').toString());
    expect(keys).toHaveLength(2);
    const values = ['a person typed this', ...keys];
    for (const out of allOutput) for (const v of values) expect(out).not.toContain(v);
    const onTheVm = JSON.stringify(await metadata());
    for (const v of keys) expect(onTheVm).not.toContain(v);
  });
});
