/** The Deployment kind's pure planning, case by case: no VM, no agent, no clock. */
import { describe, expect, it } from 'vitest';
import type { ResolvedSpec } from '../../src/api/defaults.js';
import { configHash } from '../../src/api/env-file.js';
import { loadManifests } from '../../src/api/manifests.js';
import { desiredDeployments, diffDeployment, parseEnv, type DeploymentObservation } from '../../src/kinds/deployment/deployment-plan.js';
import { mergeItems, metadataProblem } from '../../src/kinds/deployment/metadata.js';
import { desiredBindings } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import type { PlanContext } from '../../src/plan/kind-planner.js';
import { emptyObservation } from '../../src/plan/observed.js';
import type { Action } from '../../src/plan/types.js';
import { KINDS } from '../../src/kinds/registry.js';
import { mutated, type Doc } from '../support/manifests.js';

const SA = 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';

function spec(mutate: (d: Doc) => void = () => undefined): ResolvedSpec {
  const { environments, errors } = loadManifests([{ file: 's', text: mutated(mutate) }]);
  expect(errors).toEqual([]);
  return environments[0]!.spec;
}

const DEPLOY_KEY = 'Secret/jobmatch-staging-deploy-key';

/** The plan's context; the deploy key observed at `keyVersion` (newest enabled). */
function ctx(s: ResolvedSpec, planned: Action[] = [], keyVersion = '1'): PlanContext {
  const observed = emptyObservation(new Date(0));
  observed.resources[DEPLOY_KEY] = { labels: {}, version: 'e', versions: [{ number: keyVersion, state: 'ENABLED', createTime: '' }] } as never;
  return { project: s.gcp.projectId, grants: [], now: 0, planned: new Map(planned.map((a) => [a.id, a])), bindings: desiredBindings(s, KINDS), observed };
}

/** What the operator's last push left beside the keys: signed with deploy key version 1. */
const SIGNED = { 'jobmatch-config-serial': '1000', 'jobmatch-config-key-version': '1', 'jobmatch-config-signature': `hmac-sha256:${'a'.repeat(64)}` };

/** A running VM whose agent applied `applied` (and whose metadata says `pushed`). */
function vm(s: ResolvedSpec, { applied, pushed, status = 'RUNNING', agent = {} }: { applied?: string; pushed?: string; status?: string; agent?: DeploymentObservation['agent'] } = {}): DeploymentObservation {
  const d = desiredDeployments(s)[0]!;
  const metadata: Record<string, string> = pushed === undefined ? { 'ssh-keys': 'x' } : { ...d.metadata, ...SIGNED, 'jobmatch-config-hash': pushed };
  return { zone: d.zone, labels: {}, version: 'fp1', status, serviceAccount: SA, metadata, agent: { ...(applied ? { appliedHash: applied } : {}), ...agent } };
}

const pendingSecret = (s: ResolvedSpec, name: string): Action => ({
  id: `Secret/jobmatch-staging-${name.toLowerCase().replaceAll('_', '-')}`, kind: 'Secret', name: '', verb: 'pending', changes: [], steps: [], pending: 'gcloud secrets versions add ...',
});

describe('planning a rollout', () => {
  const s = spec();
  const d = desiredDeployments(s)[0]!;
  const hash = configHash(s);

  it('names the deployment zone/instance and renders the metadata the agent reads', () => {
    expect(d.name).toBe('europe-west1-b/jobmatch-staging-vm');
    expect(d.metadata).toMatchObject({
      'jobmatch-config-hash': hash, 'jobmatch-compose-ref': 'staging', 'jobmatch-compose-file': 'docker-compose.yml',
      'jobmatch-compose-directory': '/opt/jobmatch', 'jobmatch-health-timeout': '180', 'enable-guest-attributes': 'TRUE',
    });
    expect(parseEnv(d.metadata['jobmatch-env'])).toMatchObject({ ENV_MODE: 'staging', POSTGRES_HOST: 'db' });
    expect(d.timeoutSeconds).toBe(360);
  });

  it('is a conflict, writing nothing, when the VM\'s agent serves another environment (another environment\'s VM)', () => {
    for (const observed of [vm(s, { agent: { environment: 'prod' } }), vm(s, { pushed: hash, applied: hash, agent: { environment: 'prod' } })]) {
      expect(diffDeployment(d, observed, ctx(s))).toMatchObject({
        verb: 'conflict', steps: [], message: expect.stringMatching(/^VMOfAnotherEnvironment: VM jobmatch-staging-vm serves environment "prod" .*not "staging": nothing is written to it; fix spec\.vm$/),
      });
    }
    expect(diffDeployment(d, vm(s, { agent: { environment: 'staging' } }), ctx(s)).verb).toBe('update');
  });

  it('is a conflict when the VM does not exist (the operator never creates one)', () => {
    expect(diffDeployment(d, undefined, ctx(s))).toMatchObject({ verb: 'conflict', steps: [], message: expect.stringMatching(/create the VM/) });
  });

  it('pushes then awaits a config the agent has not applied, with the config hash before → after first', () => {
    const a = diffDeployment(d, vm(s, { applied: 'sha256:old', pushed: 'sha256:old' }), ctx(s));
    expect(a.verb).toBe('update');
    expect(a.changes[0]).toEqual({ field: 'config', before: 'sha256:old', after: hash });
    expect(a.steps).toEqual([
      { kind: 'Deployment', op: 'pushConfig', instance: 'jobmatch-staging-vm', zone: 'europe-west1-b', fingerprint: 'fp1', set: d.metadata, deployKey: 'jobmatch-staging-deploy-key' },
      { kind: 'Deployment', op: 'awaitRollout', instance: 'jobmatch-staging-vm', zone: 'europe-west1-b', rolloutId: hash, timeoutSeconds: 360 },
    ]);
  });

  it('lists exactly the .env keys that change, with their values', () => {
    const before = spec();
    const after = spec((doc) => Object.assign(doc.spec.app.config, { POSTGRES_HOST: 'db2', NEW_KEY: 'v' }));
    const observed = vm(before, { applied: configHash(before), pushed: configHash(before) });
    const a = diffDeployment(desiredDeployments(after)[0]!, observed, ctx(after));
    expect(a.changes.slice(1)).toEqual([{ field: 'env.NEW_KEY', before: null, after: 'v' }, { field: 'env.POSTGRES_HOST', before: 'db', after: 'db2' }]);
  });

  it.each<[string, (doc: Doc) => void, string]>([
    ['the compose directory', (doc) => (doc.spec.app.compose.directory = '/srv/jobmatch'), 'compose.directory'],
    ['the health-check URL', (doc) => (doc.spec.app.healthCheck.url = 'http://localhost:8080/ready/'), 'healthCheck.url'],
    ['the health-check timeout', (doc) => (doc.spec.app.healthCheck.timeoutSeconds = 60), 'healthCheck.timeoutSeconds'],
  ])('rolls out a change of only %s (it changes what the agent does)', (_, mutate, field) => {
    const edited = spec(mutate);
    const a = diffDeployment(desiredDeployments(edited)[0]!, vm(s, { applied: hash, pushed: hash }), ctx(edited));
    expect(a.verb).toBe('update');
    expect(a.steps.map((x) => x.op)).toEqual(['pushConfig', 'awaitRollout']);
    expect(a.changes.map((c) => c.field)).toEqual(['config', field]);
  });

  it('is in sync when the agent applied this config, and costs no write', () => {
    expect(diffDeployment(d, vm(s, { applied: hash, pushed: hash }), ctx(s))).toMatchObject({ verb: 'none', steps: [] });
  });

  it('is in sync after a forced redeploy of the same config (sha256:…#token applied)', () => {
    expect(diffDeployment(d, vm(s, { applied: `${hash}#redeploy-abc`, pushed: `${hash}#redeploy-abc` }), ctx(s)).verb).toBe('none');
  });

  it('rolls the same config out again when a redeploy is requested, once per token', () => {
    const forced = { ...s, redeploy: 'redeploy-123' };
    const df = desiredDeployments(forced)[0]!;
    const a = diffDeployment(df, vm(s, { applied: hash, pushed: hash }), ctx(forced));
    expect(a).toMatchObject({ verb: 'update', message: expect.stringMatching(/redeploy forced/) });
    expect(a.steps[1]).toMatchObject({ rolloutId: `${hash}#redeploy-123` });
    expect(diffDeployment(df, vm(s, { applied: `${hash}#redeploy-123`, pushed: `${hash}#redeploy-123` }), ctx(forced)).verb).toBe('none');
  });

  it('only waits (no second push) when the config was pushed and not yet acknowledged: a restart resumes waiting', () => {
    const a = diffDeployment(d, vm(s, { applied: 'sha256:old', pushed: hash }), ctx(s));
    expect(a).toMatchObject({ verb: 'pending', message: expect.stringMatching(/in progress/) });
    expect(a.steps.map((x) => x.op)).toEqual(['awaitRollout']);
  });

  it('reports a rollout the agent failed, without pushing it again', () => {
    const a = diffDeployment(d, vm(s, { applied: 'sha256:old', pushed: hash, agent: { attemptedHash: hash, status: 'failed', message: 'health check failed; rolled back to sha256:old' } }), ctx(s));
    expect(a).toMatchObject({ verb: 'error', steps: [], message: expect.stringMatching(/rolled back to sha256:old.*--redeploy/) });
  });

  it('fixes drifted metadata without a rollout when the VM already runs the config', () => {
    const observed = vm(s, { applied: hash, pushed: hash });
    observed.metadata['jobmatch-compose-ref'] = 'main';
    const a = diffDeployment(d, observed, ctx(s));
    expect(a.verb).toBe('update');
    expect(a.steps.map((x) => x.op)).toEqual(['pushConfig']);
    expect(a.changes).toEqual([{ field: 'compose.ref', before: 'main', after: 'staging' }]);
  });

  it('signs again, without a rollout, a config on the VM that is unsigned or signed with a deploy key version that is no longer the newest', () => {
    const unsigned = vm(s, { applied: hash, pushed: hash });
    delete unsigned.metadata['jobmatch-config-signature'];
    expect(diffDeployment(d, unsigned, ctx(s))).toMatchObject({
      verb: 'update', message: 'the VM already runs this config; its configuration is not signed: signed again',
      changes: [{ field: 'signature', before: null, after: 'signed with the deploy key' }],
      steps: [{ op: 'pushConfig', set: {}, deployKey: 'jobmatch-staging-deploy-key' }],
    });
    const rotated = diffDeployment(d, vm(s, { applied: hash, pushed: hash }), ctx(s, [], '2'));
    expect(rotated).toMatchObject({ verb: 'update', changes: [{ field: 'signature', before: 'deploy key version 1', after: 'deploy key version 2' }] });
    expect(rotated.steps.map((x) => x.op)).toEqual(['pushConfig']);
    // The key gets a version in this very plan: signed after it.
    const rotating: Action = { id: DEPLOY_KEY, kind: 'Secret', name: '', verb: 'update', changes: [], steps: [{ kind: 'Secret', op: 'addGeneratedVersion' }] };
    expect(diffDeployment(d, vm(s, { applied: hash, pushed: hash }), ctx(s, [rotating]))).toMatchObject({ verb: 'update', after: [DEPLOY_KEY] });
  });

  it('says RolloutFailed when the agent refused a configuration the operator did not write, and writes the declared one back', () => {
    const agent = { appliedHash: hash, attemptedHash: 'sha256:forged', status: 'failed', message: 'jobmatch-config-signature did not match' };
    const a = diffDeployment(d, vm(s, { pushed: 'sha256:forged', agent }), ctx(s));
    expect(a).toMatchObject({ verb: 'update', message: `RolloutFailed: the VM agent refused sha256:forged, which the operator did not write: jobmatch-config-signature did not match; the VM still runs ${hash}: writing the declared configuration back` });
    expect(a.steps.map((x) => x.op)).toEqual(['pushConfig']); // the VM runs the declared config: nothing to wait for
    // Its own failed rollout is not someone else's: reported as before, not pushed again.
    expect(diffDeployment(d, vm(s, { pushed: hash, agent: { ...agent, appliedHash: 'sha256:old', attemptedHash: hash } }), ctx(s)).verb).toBe('error');
  });

  it('starts a rollout only after this plan\'s grants on secrets (the agent reads its deploy key, the apps their secrets, at once)', () => {
    const generated = spec((doc) => {
      doc.spec.secrets = doc.spec.secrets.filter((x: { source: string }) => x.source === 'generate');
      doc.spec.iam = doc.spec.iam.filter((b: { resource: string }) => !/^secret\/(LLM|FRANCE)/.test(b.resource));
    });
    const observed = emptyObservation(new Date(0));
    observed.resources[`Deployment/${d.name}`] = vm(generated);
    const plan = diff(generated, observed, KINDS);
    const grants = plan.actions.filter((a) => a.kind === 'IAMBinding' && a.name.startsWith('secret/')).map((a) => a.id);
    expect(grants).toContain(`IAMBinding/secret/deploy-key roles/secretmanager.secretAccessor serviceAccount:${SA}`);
    expect(plan.actions.find((a) => a.kind === 'Deployment')!.after).toEqual(expect.arrayContaining([`Secret/jobmatch-staging-deploy-key`, ...grants]));
    expect(plan.actions.find((a) => a.id === 'Bucket/jobmatch-staging-bronze-job-match-v0')!.after).toBeUndefined();
  });

  it('waits while the VM is not running, saying how to start it', () => {
    expect(diffDeployment(d, vm(s, { status: 'TERMINATED' }), ctx(s))).toMatchObject({ verb: 'pending', steps: [], message: expect.stringMatching(/TERMINATED.*gcloud compute instances start jobmatch-staging-vm/) });
  });

  it('never starts while a declared secret has no enabled version (SecretsMissing), and waits for secrets being given one', () => {
    const missing = diffDeployment(d, vm(s), ctx(s, [pendingSecret(s, 'LLM_API_KEY')]));
    expect(missing).toMatchObject({ verb: 'pending', steps: [], message: expect.stringMatching(/^SecretsMissing: .*LLM_API_KEY has no enabled version/) });
    const generating: Action = { id: 'Secret/jobmatch-staging-postgres-password', kind: 'Secret', name: '', verb: 'create', changes: [], steps: [{ kind: 'Secret', op: 'create' }] };
    expect(diffDeployment(d, vm(s), ctx(s, [generating])).after).toEqual(['Secret/jobmatch-staging-postgres-password']);
  });

  it("warns, without blocking, when the VM's service account cannot read a declared secret", () => {
    const few = spec((doc) => (doc.spec.iam = doc.spec.iam.filter((b: { resource: string }) => b.resource !== 'secret/LLM_API_KEY')));
    const a = diffDeployment(desiredDeployments(few)[0]!, vm(few), ctx(few));
    expect(a.verb).toBe('update');
    expect(a.warnings).toEqual([expect.stringMatching(/no roles\/secretmanager.secretAccessor on jobmatch-staging-llm-api-key: add to spec.iam \{member: serviceAccount:jobmatch-staging-vm@.*resource: secret\/LLM_API_KEY\}/)]);
    expect(diffDeployment(d, vm(s), ctx(s)).warnings).toBeUndefined();
  });

  it('refuses metadata Compute would refuse, naming the limit', () => {
    expect(metadataProblem({ 'jobmatch-env': 'x'.repeat(256 * 1024 + 1) }, {})).toMatch(/the rendered .env is 257 KB; Compute allows at most 256 KB/);
    expect(metadataProblem({ a: 'x'.repeat(200 * 1024) }, { b: 'y'.repeat(200 * 1024), c: 'z'.repeat(200 * 1024) })).toMatch(/at most 512 KB per instance/);
    expect(metadataProblem(d.metadata, {})).toBeUndefined();
  });

  it('keeps every other metadata key, in its place, when merging', () => {
    expect(mergeItems([{ key: 'ssh-keys', value: 'k' }, { key: 'jobmatch-env', value: 'old' }], { 'jobmatch-env': 'new' }))
      .toEqual([{ key: 'ssh-keys', value: 'k' }, { key: 'jobmatch-env', value: 'new' }]);
  });
});
