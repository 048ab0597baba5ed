import { describe, expect, it } from 'vitest';
import type { protos } from '@google-cloud/compute';
import { PROJECT, ZONE, http, statusOf, useSandbox } from '../support/sandbox.js';

const SA = 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
const s = useSandbox({
  seed: { projects: [{ projectId: PROJECT, instances: [{ name: 'vm-seeded', zone: ZONE, serviceAccount: SA, metadata: { 'startup-script': 'echo hi' } }] }] },
}, { compute: true });
type Operation = protos.google.cloud.compute.v1.IOperation;

async function setMetadata(instance: string, fingerprint: string | null | undefined, items: { key: string; value: string }[]) {
  const [lro] = await s.compute.instances.setMetadata({ project: PROJECT, zone: ZONE, instance, metadataResource: { fingerprint, items } });
  return (lro as unknown as { latestResponse: Operation }).latestResponse;
}

describe('Compute instances through @google-cloud/compute', () => {
  it('gets a seeded instance with its metadata, fingerprint and service account', async () => {
    const [inst] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-seeded' });
    expect(inst.status).toBe('RUNNING');
    expect(inst.metadata?.items).toEqual([expect.objectContaining({ key: 'startup-script', value: 'echo hi' })]);
    expect(inst.metadata?.fingerprint).toEqual(expect.any(String));
    expect(inst.serviceAccounts?.[0]?.email).toBe(SA);
  });

  it('inserts, lists and deletes instances through operations', async () => {
    const [lro] = await s.compute.instances.insert({ project: PROJECT, zone: ZONE, instanceResource: { name: 'vm-new' } });
    const op = (lro as unknown as { latestResponse: Operation }).latestResponse;
    expect(op).toMatchObject({ status: 'RUNNING', operationType: 'insert' });
    expect(op.targetLink).toMatch(/instances\/vm-new$/);
    const [list] = await s.compute.instances.list({ project: PROJECT, zone: ZONE });
    expect(list.map((i) => i.name)).toEqual(['vm-new', 'vm-seeded']);
    await s.compute.instances.delete({ project: PROJECT, zone: ZONE, instance: 'vm-new' });
    expect(await statusOf(s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-new' }))).toBe(404);
  });

  it('sets metadata with the current fingerprint; the operation is then DONE', async () => {
    const [inst] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-seeded' });
    const op = await setMetadata('vm-seeded', inst.metadata!.fingerprint, [...inst.metadata!.items!.map((i) => ({ key: i.key!, value: i.value! })), { key: 'jobmatch-config-hash', value: 'sha256:1' }]);
    expect(op).toMatchObject({ operationType: 'setMetadata', status: 'RUNNING' });
    const [done] = await s.compute.zoneOperations.wait({ project: PROJECT, zone: ZONE, operation: op.name! });
    expect(done.status).toBe('DONE');
    const [got] = await s.compute.zoneOperations.get({ project: PROJECT, zone: ZONE, operation: op.name! });
    expect(got.status).toBe('DONE');
    const [after] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-seeded' });
    expect(after.metadata!.fingerprint).not.toBe(inst.metadata!.fingerprint);
    expect(after.metadata!.items!.map((i) => i.key)).toEqual(['startup-script', 'jobmatch-config-hash']);
    expect(s.sandbox.stats.snapshot().byApi.compute).toMatchObject({ 'zoneOperations.wait': 1, 'zoneOperations.get': 1 });
    expect(s.sandbox.stats.snapshot()).toMatchObject({ writes: 1, reads: 4 });
  });

  it('refuses a stale fingerprint with 412 and a missing one with 400', async () => {
    const [inst] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-seeded' });
    await setMetadata('vm-seeded', inst.metadata!.fingerprint, [{ key: 'a', value: '1' }]);
    expect(await statusOf(setMetadata('vm-seeded', inst.metadata!.fingerprint, [{ key: 'b', value: '2' }]))).toBe(412);
    const raw = await http(`${s.url}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances/vm-seeded/setMetadata`, { method: 'POST', json: { items: [] } });
    expect(raw.status).toBe(400);
    expect(raw.body.error.errors[0].reason).toBe('invalid');
  });

  it('answers getGuestAttributes with what the VM wrote, and 404 before', async () => {
    const get = () => s.compute.instances.getGuestAttributes({ project: PROJECT, zone: ZONE, instance: 'vm-seeded', variableKey: 'jobmatch/status' });
    expect(await statusOf(get())).toBe(404);
    const [inst] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-seeded' });
    await setMetadata('vm-seeded', inst.metadata!.fingerprint, [{ key: 'enable-guest-attributes', value: 'TRUE' }]);
    const put = await http(`${s.sandbox.metadataUrl(PROJECT, ZONE, 'vm-seeded')}/computeMetadata/v1/instance/guest-attributes/jobmatch/status`, {
      method: 'PUT', body: 'ok', headers: { 'metadata-flavor': 'Google' },
    });
    expect(put.status).toBe(200);
    const [attr] = await get();
    expect(attr.variableValue).toBe('ok');
    const [all] = await s.compute.instances.getGuestAttributes({ project: PROJECT, zone: ZONE, instance: 'vm-seeded', queryPath: 'jobmatch/' });
    expect(all.queryValue?.items).toEqual([expect.objectContaining({ namespace: 'jobmatch', key: 'status', value: 'ok' })]);
  });
});

describe('Resource Manager project IAM', () => {
  it('reads and writes the project policy through ProjectsClient (v3); a stale etag is 409 ABORTED', async () => {
    const [policy] = await s.clients.projects.getIamPolicy({ resource: `projects/${PROJECT}` });
    const bindings = [...(policy.bindings ?? []), { role: 'roles/bigquery.jobUser', members: [`serviceAccount:${SA}`] }];
    const [set] = await s.clients.projects.setIamPolicy({ resource: `projects/${PROJECT}`, policy: { bindings, etag: policy.etag } });
    expect(set.bindings?.map((b) => b.role)).toContain('roles/bigquery.jobUser');
    expect(await statusOf(s.clients.projects.setIamPolicy({ resource: `projects/${PROJECT}`, policy: { bindings: [], etag: policy.etag } }))).toBe(409);
    expect(s.sandbox.stats.snapshot().byApi.resourcemanager).toEqual({ 'projects.getIamPolicy': 1, 'projects.setIamPolicy': 2 });
  });

  it('serves v1 IAM too', async () => {
    const v1 = await http(`${s.url}/v1/projects/${PROJECT}:getIamPolicy`, { method: 'POST', json: {} });
    expect(v1.body.bindings.map((b: { role: string }) => b.role)).toContain('roles/owner');
  });

  it('gets the project through ProjectsClient (v3), named by its number, by id or by number', async () => {
    const number = s.sandbox.store.project(PROJECT).projectNumber;
    const [project] = await s.clients.projects.getProject({ name: `projects/${PROJECT}` });
    expect(project).toMatchObject({ name: `projects/${number}`, projectId: PROJECT, state: 'ACTIVE', displayName: PROJECT });
    const [byNumber] = await s.clients.projects.getProject({ name: `projects/${number}` });
    expect(byNumber.projectId).toBe(PROJECT);
  });

  it('gets the project through v1 with its projectNumber and lifecycleState', async () => {
    const v1 = await http(`${s.url}/v1/projects/${PROJECT}`);
    expect(v1.body).toMatchObject({ projectNumber: s.sandbox.store.project(PROJECT).projectNumber, projectId: PROJECT, lifecycleState: 'ACTIVE' });
    expect(s.sandbox.stats.snapshot().byApi.resourcemanager).toEqual({ 'projects.get': 1 });
  });

  it('refuses malformed members and roles with 400', async () => {
    const bad = await http(`${s.url}/v3/projects/${PROJECT}:setIamPolicy`, { method: 'POST', json: { policy: { bindings: [{ role: 'roles/viewer', members: ['bob'] }] } } });
    expect(bad.status).toBe(400);
    const role = await http(`${s.url}/v3/projects/${PROJECT}:setIamPolicy`, { method: 'POST', json: { policy: { bindings: [{ role: 'viewer', members: ['user:a@b.c'] }] } } });
    expect(role.status).toBe(400);
  });
});
