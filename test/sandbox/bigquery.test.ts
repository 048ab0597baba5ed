import { describe, expect, it } from 'vitest';
import { PROJECT, http, statusOf, useSandbox } from '../support/sandbox.js';

const s = useSandbox({
  seed: {
    projects: [{
      projectId: PROJECT,
      datasets: [{ datasetId: 'with_tables', tables: ['offers'] }, { datasetId: 'listed', tables: ['offers', 'companies', 'skills'] }],
    }],
  },
});
const bq = () => s.clients.bigquery;

describe('BigQuery datasets through @google-cloud/bigquery', () => {
  it('creates a dataset with location, description, labels, expiration and access, and reads it back', async () => {
    const access = [{ role: 'WRITER', userByEmail: 'vm@job-match-v0.iam.gserviceaccount.com' }, { role: 'OWNER', specialGroup: 'projectOwners' }];
    await bq().createDataset('bq_create', { location: 'EU', description: 'Silver', labels: { layer: 'silver' }, defaultTableExpirationMs: '86400000', access });
    const [md] = await bq().dataset('bq_create').getMetadata();
    expect(md).toMatchObject({
      id: `${PROJECT}:bq_create`, datasetReference: { datasetId: 'bq_create', projectId: PROJECT }, location: 'EU',
      description: 'Silver', labels: { layer: 'silver' }, defaultTableExpirationMs: '86400000', access,
    });
    expect(md.etag).toEqual(expect.any(String));
  });

  it('gives a new dataset the default access entries', async () => {
    await bq().createDataset('bq_default_access');
    const [md] = await bq().dataset('bq_default_access').getMetadata();
    expect(md.access).toContainEqual({ role: 'OWNER', specialGroup: 'projectOwners' });
    expect(md.location).toBe('US');
  });

  it('answers 404 for a missing dataset, 409 for an existing one, 400 for a bad id or expiration', async () => {
    expect((await bq().dataset('bq_nope').exists())[0]).toBe(false);
    await bq().createDataset('bq_dup');
    expect(await statusOf(bq().createDataset('bq_dup'))).toBe(409);
    expect(await statusOf(bq().createDataset('bad-id'))).toBe(400);
    expect(await statusOf(bq().createDataset('bq_short', { defaultTableExpirationMs: '1000' }))).toBe(400);
  });

  it('patches with the etag as If-Match; a stale etag is 412', async () => {
    await bq().createDataset('bq_patch', { labels: { a: '1' } });
    const dataset = bq().dataset('bq_patch');
    const [before] = await dataset.getMetadata();
    await dataset.setMetadata({ description: 'new', labels: { b: '2' }, etag: before.etag });
    const [after] = await dataset.getMetadata();
    expect(after).toMatchObject({ description: 'new', labels: { a: '1', b: '2' } });
    expect(after.etag).not.toBe(before.etag);
    expect(await statusOf(dataset.setMetadata({ description: 'stale', etag: before.etag }))).toBe(412);
    const raw = await http(`${s.url}/bigquery/v2/projects/${PROJECT}/datasets/bq_patch`, { method: 'PATCH', headers: { 'if-match': 'nope' }, json: {} });
    expect(raw.body.error).toMatchObject({ code: 412, status: 'FAILED_PRECONDITION', errors: [{ reason: 'conditionNotMet' }] });
  });

  it('refuses a body with a field the Dataset resource does not have, as BigQuery does', async () => {
    const bad = await http(`${s.url}/bigquery/v2/projects/${PROJECT}/datasets`, { method: 'POST', json: { datasetReference: { datasetId: 'bq_unknown' }, projectId: PROJECT } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('Invalid JSON payload received. Unknown name "projectId": Cannot find field.');
  });

  it('refuses to move a dataset (location is immutable)', async () => {
    await bq().createDataset('bq_moving', { location: 'EU' });
    expect(await statusOf(bq().dataset('bq_moving').setMetadata({ location: 'US' }))).toBe(400);
  });

  it('replaces the mutable fields on update (PUT)', async () => {
    await bq().createDataset('bq_put', { description: 'x', labels: { a: '1' } });
    const put = await http(`${s.url}/bigquery/v2/projects/${PROJECT}/datasets/bq_put`, { method: 'PUT', json: { labels: { z: '9' } } });
    expect(put.body.labels).toEqual({ z: '9' });
    expect(put.body.description).toBeUndefined();
  });

  it('lists datasets, filtered by label as BigQuery filters', async () => {
    await bq().createDataset('bq_list_a', { labels: { 'jobmatch-environment': 'staging' } });
    await bq().createDataset('bq_list_b', { labels: { 'jobmatch-environment': 'prod' } });
    const [staging] = await bq().getDatasets({ filter: 'labels.jobmatch-environment:staging' });
    expect(staging.map((d) => d.id)).toEqual(['bq_list_a']);
    const [labelled] = await bq().getDatasets({ filter: 'labels.jobmatch-environment' });
    expect(labelled.map((d) => d.id)).toEqual(['bq_list_a', 'bq_list_b']);
  });

  it('refuses to delete a dataset with tables unless deleteContents', async () => {
    const dataset = bq().dataset('with_tables');
    expect(await statusOf(dataset.delete())).toBe(400);
    await dataset.delete({ force: true });
    expect((await dataset.exists())[0]).toBe(false);
  });
});

describe('BigQuery tables list through @google-cloud/bigquery', () => {
  it('lists a dataset\'s tables by id, with their table references', async () => {
    const [tables] = await bq().dataset('listed').getTables();
    expect(tables.map((t) => t.id)).toEqual(['companies', 'offers', 'skills']);
    expect(tables[0]!.metadata).toEqual({
      kind: 'bigquery#table', id: `${PROJECT}:listed.companies`, type: 'TABLE',
      tableReference: { projectId: PROJECT, datasetId: 'listed', tableId: 'companies' },
    });
    expect(s.sandbox.stats.snapshot().byApi.bigquery).toEqual({ 'tables.list': 1 });
  });

  it('pages with maxResults and nextPageToken, and gives the total', async () => {
    const [first, next, raw] = await bq().dataset('listed').getTables({ maxResults: 2, autoPaginate: false });
    expect(first.map((t) => t.id)).toEqual(['companies', 'offers']);
    expect(raw).toMatchObject({ kind: 'bigquery#tableList', totalItems: 3, nextPageToken: expect.any(String) });
    const [second, last] = await bq().dataset('listed').getTables({ ...next, autoPaginate: false });
    expect(second.map((t) => t.id)).toEqual(['skills']);
    expect(last).toBeNull();
  });

  it('answers an empty list for a dataset without tables, and 404 for a missing dataset', async () => {
    await bq().createDataset('bq_no_tables');
    const raw = await http(`${s.url}/bigquery/v2/projects/${PROJECT}/datasets/bq_no_tables/tables`);
    expect(raw.body).toMatchObject({ kind: 'bigquery#tableList', tables: [], totalItems: 0 });
    expect(raw.body.nextPageToken).toBeUndefined();
    expect(await statusOf(bq().dataset('bq_nowhere').getTables())).toBe(404);
  });
});
