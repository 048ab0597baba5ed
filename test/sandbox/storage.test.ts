import { describe, expect, it } from 'vitest';
import { PROJECT, http, statusOf, useSandbox } from '../support/sandbox.js';

const s = useSandbox();

describe('Cloud Storage buckets through @google-cloud/storage', () => {
  it('creates a bucket with every field the operator sets, and reads it back', async () => {
    await s.clients.storage.createBucket('jm-create-1', {
      location: 'eu', storageClass: 'NEARLINE', versioning: { enabled: true }, labels: { team: 'data' },
      lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: 365 } }] },
      iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
    });
    const [md] = await s.clients.storage.bucket('jm-create-1').getMetadata();
    expect(md).toMatchObject({
      name: 'jm-create-1', location: 'EU', storageClass: 'NEARLINE', versioning: { enabled: true }, labels: { team: 'data' },
      lifecycle: { rule: [{ action: { type: 'Delete' }, condition: { age: 365 } }] }, metageneration: '1',
      iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
    });
    expect(s.sandbox.stats.snapshot().byApi.storage).toEqual({ 'buckets.insert': 1, 'buckets.get': 1 });
  });

  it('carries the project number on every bucket, as Google does', async () => {
    await s.clients.storage.createBucket('jm-project-number');
    const [md] = await s.clients.storage.bucket('jm-project-number').getMetadata();
    expect(md.projectNumber).toBe(s.sandbox.store.project(PROJECT).projectNumber);
    expect(md.projectNumber).toMatch(/^\d{12}$/);
  });

  it('answers 404 for a missing bucket (exists() is false) and 409 for a taken name', async () => {
    expect((await s.clients.storage.bucket('jm-missing').exists())[0]).toBe(false);
    await s.clients.storage.createBucket('jm-taken');
    expect(await statusOf(s.clients.storage.createBucket('jm-taken'))).toBe(409);
  });

  it('refuses names that break the GCS rules with 400', async () => {
    for (const name of ['UPPER', 'ab', 'goog-x', 'a'.repeat(64), '10.0.0.1']) {
      expect(await statusOf(s.clients.storage.createBucket(name)), name).toBe(400);
    }
  });

  it('lists a project\'s buckets by prefix, page by page', async () => {
    for (const i of [1, 2, 3]) await s.clients.storage.createBucket(`jm-list-${i}`);
    const [all] = await s.clients.storage.getBuckets({ prefix: 'jm-list-' });
    expect(all.map((b) => b.name)).toEqual(['jm-list-1', 'jm-list-2', 'jm-list-3']);
    const first = await http(`${s.url}/storage/v1/b?project=${PROJECT}&prefix=jm-list-&maxResults=2`);
    expect(first.body.items).toHaveLength(2);
    const second = await http(`${s.url}/storage/v1/b?project=${PROJECT}&prefix=jm-list-&maxResults=2&pageToken=${first.body.nextPageToken}`);
    expect(second.body.items.map((b: { name: string }) => b.name)).toEqual(['jm-list-3']);
    expect(second.body.nextPageToken).toBeUndefined();
  });

  it('patches: labels merge and null deletes, versioning flips, metageneration counts', async () => {
    const bucket = s.clients.storage.bucket('jm-patch');
    await s.clients.storage.createBucket('jm-patch', { labels: { a: '1', b: '2' }, versioning: { enabled: true } });
    await bucket.setMetadata({ labels: { a: null, c: '3' }, versioning: { enabled: false } });
    const [md] = await bucket.getMetadata();
    expect(md.labels).toEqual({ b: '2', c: '3' });
    expect(md.versioning).toEqual({ enabled: false });
    expect(md.metageneration).toBe('2');
  });

  it('refuses a patch whose ifMetagenerationMatch is stale (412), and a location change (400)', async () => {
    await s.clients.storage.createBucket('jm-precondition', { location: 'EU' });
    const bucket = s.clients.storage.bucket('jm-precondition');
    expect(await statusOf(bucket.setMetadata({ labels: { x: 'y' } }, { ifMetagenerationMatch: 7 }))).toBe(412);
    await bucket.setMetadata({ labels: { x: 'y' } }, { ifMetagenerationMatch: 1 });
    expect(await statusOf(bucket.setMetadata({ location: 'US' }))).toBe(400);
  });

  it('replaces the mutable fields on update (PUT)', async () => {
    await s.clients.storage.createBucket('jm-update', { labels: { a: '1' }, versioning: { enabled: true } });
    const put = await http(`${s.url}/storage/v1/b/jm-update`, { method: 'PUT', json: { labels: { z: '9' } } });
    expect(put.status).toBe(200);
    expect(put.body.labels).toEqual({ z: '9' });
    expect(put.body.versioning).toBeUndefined();
    expect(put.body.location).toBe('US');
  });

  it('reads and writes IAM policies with etags: a stale etag is 412', async () => {
    await s.clients.storage.createBucket('jm-iam', { iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } });
    const iam = s.clients.storage.bucket('jm-iam').iam;
    const [policy] = await iam.getPolicy({ requestedPolicyVersion: 3 });
    expect(policy.etag).toBe('CAE=');
    expect(policy.bindings.map((b) => b.role)).toContain('roles/storage.legacyBucketOwner');
    const member = 'serviceAccount:vm@job-match-v0.iam.gserviceaccount.com';
    const [updated] = await iam.setPolicy({ bindings: [...policy.bindings, { role: 'roles/storage.objectAdmin', members: [member] }], etag: policy.etag });
    expect(updated.etag).toBe('CAI=');
    expect((await iam.getPolicy())[0].bindings).toContainEqual({ role: 'roles/storage.objectAdmin', members: [member] });
    expect(await statusOf(iam.setPolicy({ bindings: [], etag: policy.etag }))).toBe(412);
    expect(s.sandbox.stats.snapshot()).toMatchObject({ reads: 2, writes: 3 }); // insert, two setIamPolicy
  });

  it('refuses public members on a bucket with public access prevention enforced', async () => {
    await s.clients.storage.createBucket('jm-private', { iamConfiguration: { publicAccessPrevention: 'enforced' } });
    const iam = s.clients.storage.bucket('jm-private').iam;
    expect(await statusOf(iam.setPolicy({ bindings: [{ role: 'roles/storage.objectViewer', members: ['allUsers'] }] }))).toBe(412);
  });

  it('refuses to delete a non-empty bucket (409), then deletes it once emptied', async () => {
    await s.clients.storage.createBucket('jm-delete');
    const bucket = s.clients.storage.bucket('jm-delete');
    await bucket.file('offers/2026.json').save('{"x":1}', { resumable: false });
    const [files] = await bucket.getFiles();
    expect(files.map((f) => f.name)).toEqual(['offers/2026.json']);
    expect(await statusOf(bucket.delete())).toBe(409);
    await bucket.file('offers/2026.json').delete();
    await bucket.delete();
    expect((await bucket.exists())[0]).toBe(false);
  });
});

describe('Cloud Storage objects list through @google-cloud/storage', () => {
  it('pages with maxResults and nextPageToken', async () => {
    await s.clients.storage.createBucket('jm-objects');
    const bucket = s.clients.storage.bucket('jm-objects');
    for (const name of ['c.json', 'a.json', 'b.json']) await bucket.file(name).save('{}', { resumable: false });
    const [first, next] = await bucket.getFiles({ maxResults: 2, autoPaginate: false });
    expect(first.map((f) => f.name)).toEqual(['a.json', 'b.json']);
    expect(next).toMatchObject({ pageToken: expect.any(String) });
    const [second, last] = await bucket.getFiles({ ...next, autoPaginate: false });
    expect(second.map((f) => f.name)).toEqual(['c.json']);
    expect(last).toBeNull();
  });
});
