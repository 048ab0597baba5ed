/**
 * The trust boundary: a JobMatchEnvironment may not wield the operator's Google identity. A corpus of
 * hostile IAM (every public spelling on every kind, basic, identity-administration and custom roles, roles
 * beyond data access) is refused by validate, plan, apply, the controller, and by the executor itself when
 * a plan carries it — each time with zero GCP writes counted by the sandbox.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { validateCommand } from '../../src/cli/validate-command.js';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { connect } from '../../src/engine/connection.js';
import { PlanExecutor } from '../../src/engine/execute.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { KINDS } from '../../src/kinds/registry.js';
import { summarize } from '../../src/plan/diff.js';
import type { Action, Plan } from '../../src/plan/types.js';
import { engine, FAST_RETRY } from '../support/engine.js';
import { mutated, NO_VM } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const dir = mkdtempSync(join(tmpdir(), 'jme-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
const ATTACKER = 'user:attacker@gmail.com';
/** Where a binding lives, with a role the default policy allows there (so only the member is hostile). */
const KINDS_AND_ROLES = [
  ['project', 'roles/logging.logWriter'],
  [`bucket/${BUCKET}`, 'roles/storage.objectViewer'],
  ['dataset/staging_gold', 'roles/bigquery.dataViewer'],
  ['secret/POSTGRES_PASSWORD', 'roles/secretmanager.secretAccessor'],
] as const;
const PUBLIC_SPELLINGS = ['allUsers', 'allAuthenticatedUsers', 'ALLUSERS', 'AllAuthenticatedUsers', 'principalSet://goog/public:all', 'PRINCIPALSET://GOOG/PUBLIC:ALL', 'principalSet://goog//public:all'];

interface HostileCase { name: string; binding: { member: string; role: string; resource: string }; code: string; field: 'member' | 'role' }

const corpus: HostileCase[] = [
  ...PUBLIC_SPELLINGS.flatMap((member) => KINDS_AND_ROLES.map(([resource, role]) => ({ name: `${member} on ${resource.split('/')[0]}`, binding: { member, role, resource }, code: 'policy.iam.public', field: 'member' as const }))),
  ...['roles/owner', 'roles/editor', 'roles/viewer'].flatMap((role) => [
    { name: `${role} on the project`, binding: { member: ATTACKER, role, resource: 'project' }, code: 'policy.iam.basicRole', field: 'role' as const },
    { name: `${role} on a bucket`, binding: { member: ATTACKER, role, resource: `bucket/${BUCKET}` }, code: 'policy.iam.basicRole', field: 'role' as const },
  ]),
  ...['roles/iam.serviceAccountTokenCreator', 'roles/iam.serviceAccountUser', 'roles/iam.workloadIdentityUser', 'roles/iam.securityAdmin', 'roles/iam.serviceAccountAdmin', 'roles/iam.serviceAccountKeyAdmin', 'roles/resourcemanager.projectIamAdmin']
    .map((role) => ({ name: `${role} on the project`, binding: { member: ATTACKER, role, resource: 'project' }, code: 'policy.iam.identityRole', field: 'role' as const })),
  ...[['projects/job-match-v0/roles/superuser', 'project'], ['organizations/123456/roles/everything', `bucket/${BUCKET}`]]
    .map(([role, resource]) => ({ name: `custom ${role}`, binding: { member: ATTACKER, role: role!, resource: resource! }, code: 'policy.iam.customRole', field: 'role' as const })),
  ...[['roles/storage.admin', `bucket/${BUCKET}`], ['roles/storage.legacyBucketOwner', `bucket/${BUCKET}`], ['roles/bigquery.dataOwner', 'dataset/staging_gold'], ['roles/secretmanager.admin', 'secret/POSTGRES_PASSWORD'], ['roles/bigquery.admin', 'project']]
    .map(([role, resource]) => ({ name: `${role} (beyond data access)`, binding: { member: ATTACKER, role: role!, resource: resource! }, code: 'policy.iam.roleNotAllowed', field: 'role' as const })),
  { name: 'a domain member', binding: { member: 'domain:gmail.com', role: 'roles/storage.objectViewer', resource: `bucket/${BUCKET}` }, code: 'policy.iam.domainMember', field: 'member' },
  { name: 'a principal set', binding: { member: 'principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*', role: 'roles/logging.logWriter', resource: 'project' }, code: 'policy.iam.principalSet', field: 'member' },
];

const hostile = (c: HostileCase) => mutated((d) => d.spec.iam.push(c.binding), 'staging', NO_VM);
const io = (stdin: string) => {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t), stdin: Readable.from([stdin]), env: {} } };
};
const requests = () => s.sandbox.stats.snapshot().total;

describe('the hostile-IAM corpus', () => {
  it('covers every public spelling on every kind, basic, identity, custom and beyond-data-access roles', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(PUBLIC_SPELLINGS.length * 4 + 6 + 7 + 2 + 5 + 2);
  });

  it.each(corpus)('validate refuses $name, naming the field and the fix (exit 1)', async (c) => {
    const { out, io: cli } = io(hostile(c));
    expect(await validateCommand(cli, ['-'])).toBe(1);
    expect(out.stderr).toContain(`spec.iam[8].${c.field}`);
    expect(out.stderr).toMatch(/fix: /);
    expect(out.stderr).toMatch(/nothing was changed/);
  });

  it.each(corpus)('plan and apply refuse $name with zero GCP calls', async (c) => {
    s.sandbox.stats.reset();
    for (const mode of ['plan', 'apply'] as const) {
      const run = await engine(mode, s.url, hostile(c));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`spec.iam[8].${c.field}`);
    }
    expect(requests()).toBe(0);
  });

  it('the controller stalls on each with reason PolicyViolation, an Event and the metric, and zero GCP calls', async () => {
    const store = new MemoryStore();
    const metrics = new ControllerMetrics();
    const logger = createActionLogger({ write: () => true } as unknown as NodeJS.WritableStream, 'silent');
    const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
    const controller = new Controller({ store, logger, metrics, concurrency: 4, engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } } });
    s.sandbox.stats.reset();
    const keys = corpus.map((c, i) => store.put(mutated((d) => {
      d.metadata.name = `hostile-${i}`;
      d.spec.iam.push(c.binding);
    }, 'staging', NO_VM)));
    controller.enqueue(keys);
    await controller.queue.idle();
    for (const [i, key] of keys.entries()) {
      const stalled = store.statusOf(key)?.conditions?.find((c) => c.type === 'Stalled');
      expect(stalled, corpus[i]!.name).toMatchObject({ status: 'True', reason: 'PolicyViolation' });
      expect(stalled!.message).toContain(`spec.iam[8].${corpus[i]!.field}`);
      expect(store.statusOf(key)?.conditions?.find((c) => c.type === 'Synced')).toMatchObject({ status: 'False', reason: 'PolicyViolation' });
      expect(store.events.filter((e) => e.key === key && e.reason === 'PolicyViolation')).toHaveLength(1);
      expect(store.get(key)!.manifest.metadata.finalizers ?? []).toEqual([]);
    }
    expect(await metrics.registry.getSingleMetricAsString('jobmatch_refused_total')).toContain(`jobmatch_refused_total{reason="PolicyViolation"} ${corpus.length}`);
    // A resync of a refused object changes nothing and says nothing again.
    controller.enqueue(keys);
    await controller.queue.idle();
    expect(store.events.filter((e) => e.reason === 'PolicyViolation')).toHaveLength(corpus.length);
    expect(requests()).toBe(0);
    await controller.stop(0);
  });

  it.each(corpus)('the executor itself refuses $name in a hand-made plan, writing nothing', async (c) => {
    const conn = connect(KINDS, s.clients, PROJECT, new GcpCaller({ retry: FAST_RETRY }));
    const [prefix, name = ''] = c.binding.resource.split('/') as [string, string?];
    const target = prefix === 'project' ? { kind: 'Project' as const, name: PROJECT, project: PROJECT }
      : { kind: KINDS.find((k) => k.iamPrefix === prefix)!.kind, name: prefix === 'secret' ? 'jobmatch-staging-postgres-password' : name, project: PROJECT };
    const action: Action = {
      id: `IAMBinding/${c.name}`, kind: 'IAMBinding', name: c.name, verb: 'create', changes: [],
      steps: [{ kind: 'IAM', op: 'modify', target, add: [{ role: c.binding.role, member: c.binding.member }], remove: [], base: { etag: 'x', bindings: [], version: 1 } as never }],
    };
    const plan: Plan = { environment: 'staging', project: PROJECT, reportOnly: false, suspended: false, actions: [action], summary: summarize([action]) };
    s.sandbox.stats.reset();
    const results = await new PlanExecutor(conn, undefined).execute(plan);
    expect(results.get(action.id)).toMatchObject({ outcome: 'error', error: expect.stringContaining(`refused by the operator's IAM policy (${c.code.replace('policy.', '')})`) });
    expect(requests()).toBe(0);
  });

  it('the executor refuses a dataset created with a public access entry (an embedded grant), writing nothing', async () => {
    const conn = connect(KINDS, s.clients, PROJECT, new GcpCaller({ retry: FAST_RETRY }));
    const action: Action = {
      id: 'Dataset/leaky', kind: 'Dataset', name: 'leaky', verb: 'create', changes: [],
      steps: [{ kind: 'Dataset', op: 'create', datasetId: 'leaky', body: { location: 'EU', access: [{ role: 'READER', iamMember: 'allUsers' }, { role: 'OWNER', specialGroup: 'allAuthenticatedUsers' }] } }],
    };
    s.sandbox.stats.reset();
    const results = await new PlanExecutor(conn, undefined).execute({ environment: 'staging', project: PROJECT, reportOnly: false, suspended: false, actions: [action], summary: summarize([action]) });
    expect(results.get(action.id)).toMatchObject({ outcome: 'error', error: expect.stringContaining("refused by the operator's IAM policy") });
    expect(requests()).toBe(0);
  });
});

describe('the operator policy file (--policy)', () => {
  const policyFile = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('allows what it names, and only that: roles/owner on the project for one manifest, still not on a bucket', async () => {
    const path = policyFile('owner.yaml', 'apiVersion: jobmatch.io/v1alpha1\nkind: OperatorConfig\niamPolicy:\n  allowedRoles:\n    project: [roles/owner]\n  allowDomainMembers: true\n');
    const project = io(mutated((d) => d.spec.iam.push({ member: ATTACKER, role: 'roles/owner', resource: 'project' }, { member: 'domain:example.com', role: 'roles/storage.objectViewer', resource: `bucket/${BUCKET}` }), 'staging', NO_VM));
    expect(await validateCommand(project.io, ['-'], path), project.out.stderr).toBe(0);
    const bucket = io(mutated((d) => d.spec.iam.push({ member: ATTACKER, role: 'roles/owner', resource: `bucket/${BUCKET}` }), 'staging', NO_VM));
    expect(await validateCommand(bucket.io, ['-'], path)).toBe(1);
    expect(bucket.out.stderr).toMatch(/spec\.iam\[8\]\.role: roles\/owner is a basic role/);
  });

  it('never allows a public member, whatever it says', async () => {
    const path = policyFile('open.yaml', 'apiVersion: jobmatch.io/v1alpha1\nkind: OperatorConfig\niamPolicy:\n  allowedRoles: {bucket: [roles/storage.objectViewer]}\n  allowDomainMembers: true\n  allowPrincipalSets: true\n');
    const run = io(mutated((d) => d.spec.iam.push({ member: 'allUsers', role: 'roles/storage.objectViewer', resource: `bucket/${BUCKET}` }), 'staging', NO_VM));
    expect(await validateCommand(run.io, ['-'], path)).toBe(1);
    expect(run.out.stderr).toMatch(/allUsers is everyone on the internet/);
  });

  it('lets a manifest remove a binding of a role it may grant, but not of one it may not (ensure: absent)', async () => {
    const ok = io(mutated((d) => d.spec.iam.push({ member: 'allUsers', role: 'roles/storage.objectViewer', resource: `bucket/${BUCKET}`, ensure: 'absent' }), 'staging', NO_VM));
    expect(await validateCommand(ok.io, ['-']), ok.out.stderr).toBe(0);
    const owner = io(mutated((d) => d.spec.iam.push({ member: 'user:boss@example.com', role: 'roles/owner', resource: 'project', ensure: 'absent' }), 'staging', NO_VM));
    expect(await validateCommand(owner.io, ['-'])).toBe(1);
    expect(owner.out.stderr).toMatch(/spec\.iam\[8\]\.role/);
  });

  it.each([
    ['an unknown field', 'apiVersion: jobmatch.io/v1alpha1\nkind: OperatorConfig\niamPolicy:\n  allowedRole: {}\n', /iamPolicy\.allowedRole: unknown field — fix: did you mean "allowedRoles"/],
    ['a role that is not one', 'apiVersion: jobmatch.io/v1alpha1\nkind: OperatorConfig\niamPolicy:\n  allowedRoles: {project: [owner]}\n', /iamPolicy\.allowedRoles\.project\[0\]/],
    ['another kind', 'apiVersion: v1\nkind: ConfigMap\n', /apiVersion|kind/],
    ['a tenant with both namespace forms', 'apiVersion: jobmatch.io/v1alpha1\nkind: OperatorConfig\ntenants:\n  - namespaces: [a]\n    namespaceSelector: {matchLabels: {x: y}}\n    projects: [job-match-v0]\n', /tenants\[0\]: a tenant names its namespaces with exactly one/],
    ['a tenant without projects', 'apiVersion: jobmatch.io/v1alpha1\nkind: OperatorConfig\ntenants:\n  - namespaces: [a]\n', /tenants\[0\]\.projects: required field is missing/],
  ])('refuses a file with %s, naming the field, changing nothing', async (_name, text, message) => {
    const path = policyFile(`${_name.replace(/\W/g, '-')}.yaml`, text);
    const run = io(mutated(() => undefined, 'staging', NO_VM));
    s.sandbox.stats.reset();
    expect(await validateCommand(run.io, ['-'], path)).toBe(1);
    expect(run.out.stderr).toMatch(message);
    const plan = await (await import('../../src/cli/reconcile-command.js')).runReconcile(io('').io, 'plan', { filename: [join(dir, 'none.yaml')], policy: path, gcpEndpoint: s.url });
    expect(plan.code).toBe(1);
    expect(requests()).toBe(0);
  });
});
