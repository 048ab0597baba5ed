import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/sandbox/crc32c.js';
import { PROJECT, http, statusOf, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const sm = () => s.clients.secrets;
const parent = `projects/${PROJECT}`;

async function secretWithVersions(id: string, values: string[]) {
  await sm().createSecret({ parent, secretId: id, secret: { replication: { automatic: {} }, labels: { 'jobmatch-environment': 'staging' } } });
  for (const v of values) await sm().addSecretVersion({ parent: `${parent}/secrets/${id}`, payload: { data: Buffer.from(v) } });
  return `${parent}/secrets/${id}`;
}

describe('Secret Manager through @google-cloud/secret-manager', () => {
  it('creates a secret with labels and automatic replication; names it by project number', async () => {
    const [secret] = await sm().createSecret({ parent, secretId: 'sm-create', secret: { replication: { automatic: {} }, labels: { a: 'b' } } });
    expect(secret.name).toMatch(/^projects\/\d+\/secrets\/sm-create$/);
    expect(secret.labels).toEqual({ a: 'b' });
    expect(secret.replication?.automatic).toBeDefined();
    const [got] = await sm().getSecret({ name: `${parent}/secrets/sm-create` });
    expect(got.name).toBe(secret.name);
  });

  it('answers 409 for a duplicate, 404 for a missing secret, 400 without replication or with a bad id', async () => {
    await secretWithVersions('sm-dup', []);
    expect(await statusOf(sm().createSecret({ parent, secretId: 'sm-dup', secret: { replication: { automatic: {} } } }))).toBe(409);
    expect(await statusOf(sm().getSecret({ name: `${parent}/secrets/sm-missing` }))).toBe(404);
    expect(await statusOf(sm().createSecret({ parent, secretId: 'sm-norepl', secret: {} }))).toBe(400);
    expect(await statusOf(sm().createSecret({ parent, secretId: 'bad.id', secret: { replication: { automatic: {} } } }))).toBe(400);
  });

  it('lists secrets filtered by label, and patches labels through updateMask', async () => {
    await secretWithVersions('sm-list-a', []);
    await sm().createSecret({ parent, secretId: 'sm-list-b', secret: { replication: { automatic: {} }, labels: { 'jobmatch-environment': 'prod' } } });
    const [staging] = await sm().listSecrets({ parent, filter: 'labels.jobmatch-environment=staging' });
    expect(staging.map((x) => x.name!.split('/').pop())).toContain('sm-list-a');
    expect(staging.map((x) => x.name!.split('/').pop())).not.toContain('sm-list-b');
    const [patched] = await sm().updateSecret({ secret: { name: `${parent}/secrets/sm-list-b`, labels: { 'jobmatch-environment': 'qa' } }, updateMask: { paths: ['labels'] } });
    expect(patched.labels).toEqual({ 'jobmatch-environment': 'qa' });
  });

  it('adds versions, lists them newest first, resolves "latest", and accesses payloads with their CRC32C', async () => {
    const name = await secretWithVersions('sm-versions', ['one', 'two']);
    const [versions] = await sm().listSecretVersions({ parent: name });
    expect(versions.map((v) => [v.name!.split('/').pop(), v.state])).toEqual([['2', 'ENABLED'], ['1', 'ENABLED']]);
    const [latest] = await sm().getSecretVersion({ name: `${name}/versions/latest` });
    expect(latest.name).toMatch(/versions\/2$/);
    const [access] = await sm().accessSecretVersion({ name: `${name}/versions/1` });
    expect(access.payload?.data?.toString()).toBe('one');
    expect(Number(access.payload?.dataCrc32c)).toBe(crc32c(Buffer.from('one')));
    expect(s.sandbox.stats.snapshot().byApi.secretmanager).toMatchObject({ 'versions.list': 1, 'versions.get': 1, 'versions.access': 1 });
    expect(s.sandbox.stats.snapshot()).toMatchObject({ reads: 3 });
  });

  it('checks a client-supplied dataCrc32c', async () => {
    const name = await secretWithVersions('sm-crc', []);
    const data = Buffer.from('checked');
    await sm().addSecretVersion({ parent: name, payload: { data, dataCrc32c: crc32c(data) } });
    expect(await statusOf(sm().addSecretVersion({ parent: name, payload: { data, dataCrc32c: 12345 } }))).toBe(400);
  });

  it('disables, enables and destroys versions; a disabled or destroyed version cannot be accessed', async () => {
    const name = await secretWithVersions('sm-states', ['a', 'b']);
    await sm().disableSecretVersion({ name: `${name}/versions/1` });
    expect(await statusOf(sm().accessSecretVersion({ name: `${name}/versions/1` }))).toBe(400);
    const [enabled] = await sm().listSecretVersions({ parent: name, filter: 'state:ENABLED' });
    expect(enabled.map((v) => v.name!.split('/').pop())).toEqual(['2']);
    await sm().enableSecretVersion({ name: `${name}/versions/1` });
    await sm().destroySecretVersion({ name: `${name}/versions/2` });
    const [v2] = await sm().getSecretVersion({ name: `${name}/versions/2` });
    expect(v2.state).toBe('DESTROYED');
    expect(await statusOf(sm().accessSecretVersion({ name: `${name}/versions/latest` }))).toBe(400);
    const raw = await http(`${s.url}/v1/${name}/versions/2:access`);
    expect(raw.body.error).toMatchObject({ code: 400, status: 'FAILED_PRECONDITION' });
  });

  it('reads and writes IAM policies; a stale etag is 409 ABORTED', async () => {
    const name = await secretWithVersions('sm-iam', []);
    const [policy] = await sm().getIamPolicy({ resource: name });
    const member = 'serviceAccount:vm@job-match-v0.iam.gserviceaccount.com';
    const [set] = await sm().setIamPolicy({ resource: name, policy: { bindings: [{ role: 'roles/secretmanager.secretAccessor', members: [member] }], etag: policy.etag } });
    expect(set.bindings).toEqual([expect.objectContaining({ role: 'roles/secretmanager.secretAccessor', members: [member] })]);
    expect(await statusOf(sm().setIamPolicy({ resource: name, policy: { bindings: [], etag: policy.etag } }))).toBe(409);
    const raw = await http(`${s.url}/v1/${name}:setIamPolicy`, { method: 'POST', json: { policy: { bindings: [], etag: 'CAE=' } } });
    expect(raw.body.error).toMatchObject({ code: 409, status: 'ABORTED' });
  });

  it('deletes a secret', async () => {
    const name = await secretWithVersions('sm-delete', ['x']);
    await sm().deleteSecret({ name });
    expect(await statusOf(sm().getSecret({ name }))).toBe(404);
  });
});
