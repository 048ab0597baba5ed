/** Which environments an audit-log entry concerns: every resource name shape Cloud Audit Logs writes for the operator's services. */
import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/api/manifests.js';
import { AuditIndex, refOf } from '../../src/controller/audit-index.js';
import { exampleText } from '../support/manifests.js';

const staging = loadManifests([{ file: 's', text: exampleText('staging') }]).environments[0]!.spec;
const prod = loadManifests([{ file: 'p', text: exampleText('prod') }]).environments[0]!.spec;
const index = new AuditIndex([
  { key: 'jobmatch/staging', spec: staging, inventory: { resources: [{ kind: 'Bucket', name: 'jobmatch-staging-old-bucket' }], bindings: [] } },
  { key: 'jobmatch/prod', spec: prod },
]);
const entry = (serviceName: string, resourceName: string) => ({ protoPayload: { serviceName, resourceName } });

describe('the audit index', () => {
  it.each([
    ['storage.googleapis.com', 'projects/_/buckets/jobmatch-staging-bronze-job-match-v0', ['jobmatch/staging']],
    ['storage.googleapis.com', 'projects/_/buckets/jobmatch-staging-bronze-job-match-v0/objects/a/b.csv', ['jobmatch/staging']],
    ['storage.googleapis.com', 'projects/_/buckets/jobmatch-staging-old-bucket', ['jobmatch/staging']], // still in the inventory
    ['bigquery.googleapis.com', 'projects/job-match-v0/datasets/staging_silver', ['jobmatch/staging']],
    ['bigquery.googleapis.com', 'projects/job-match-v0/datasets/staging_gold/tables/offers', ['jobmatch/staging']],
    ['bigquery.googleapis.com', 'projects/another-project/datasets/staging_silver', []],
    ['secretmanager.googleapis.com', 'projects/123456789012/secrets/jobmatch-staging-postgres-password', ['jobmatch/staging']],
    ['secretmanager.googleapis.com', 'projects/123456789012/secrets/jobmatch-staging-postgres-password/versions/3', ['jobmatch/staging']],
    ['compute.googleapis.com', 'projects/job-match-v0/zones/europe-west1-b/instances/jobmatch-staging-vm', ['jobmatch/staging']],
    ['compute.googleapis.com', 'projects/job-match-v0/zones/europe-west1-c/instances/jobmatch-staging-vm', []],
    ['storage.googleapis.com', 'projects/_/buckets/someone-elses', []],
    ['pubsub.googleapis.com', 'projects/job-match-v0/topics/jobmatch-drift-events', []],
  ])('%s %s → %j', (service, resource, keys) => {
    expect(index.environmentsOf(entry(service, resource)).sort()).toEqual(keys);
  });

  it('maps project IAM changes to every environment with project bindings in that project', () => {
    expect(index.environmentsOf(entry('cloudresourcemanager.googleapis.com', 'projects/job-match-v0')).sort()).toEqual(['jobmatch/prod', 'jobmatch/staging']);
    expect(index.environmentsOf(entry('cloudresourcemanager.googleapis.com', 'projects/another-project'))).toEqual([]);
  });

  it('reads nothing from an entry without a service or a resource', () => {
    expect(refOf(undefined, 'projects/_/buckets/x')).toBeUndefined();
    expect(refOf('storage.googleapis.com', undefined)).toBeUndefined();
    expect(index.environmentsOf({})).toEqual([]);
  });
});
