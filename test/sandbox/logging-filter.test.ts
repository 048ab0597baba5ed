/** The sandbox Log Router's filters: the Logging query language subset a sink uses, as Cloud Logging reads it. */
import { describe, expect, it } from 'vitest';
import { driftEventsFilter } from '../../src/drift-events/audit-filter.js';
import { FilterError, matchesFilter, parseFilter } from '../../src/sandbox/logging-filter.js';

const entry = (serviceName: string, methodName: string, resourceName: string, extra: Record<string, unknown> = {}) => ({
  logName: 'projects/job-match-v0/logs/cloudaudit.googleapis.com%2Factivity',
  resource: { type: 'gcs_bucket', labels: { project_id: 'job-match-v0', bucket_name: 'b' } },
  severity: 'NOTICE',
  protoPayload: {
    '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
    serviceName,
    methodName,
    resourceName,
    authenticationInfo: { principalEmail: 'someone@example.com' },
    authorizationInfo: [{ permission: 'storage.buckets.update' }, { permission: 'storage.buckets.get' }],
  },
  ...extra,
});

const bucketUpdate = entry('storage.googleapis.com', 'storage.buckets.update', 'projects/_/buckets/jobmatch-staging-bronze');

describe('sink filter matching', () => {
  const cases: [filter: string, expected: boolean][] = [
    ['', true],
    ['logName="projects/job-match-v0/logs/cloudaudit.googleapis.com%2Factivity"', true],
    ['logName="projects/other/logs/cloudaudit.googleapis.com%2Factivity"', false],
    ['logName:"cloudaudit.googleapis.com"', true],
    ['logName:"CLOUDAUDIT"', true], // ":" is case-insensitive
    ['protoPayload.methodName="STORAGE.BUCKETS.UPDATE"', false], // "=" is exact
    ['protoPayload.serviceName=storage.googleapis.com', true], // a bare value
    ['protoPayload.serviceName!="storage.googleapis.com"', false],
    ['protoPayload.serviceName!="bigquery.googleapis.com"', true],
    ['protoPayload.missing!="x"', true],
    ['protoPayload.missing="x"', false],
    ['protoPayload.resourceName:"buckets/jobmatch-"', true],
    ['protoPayload.resourceName:"buckets/other-"', false],
    ['protoPayload.methodName=~"^storage\\.buckets\\.(update|patch)$"', true],
    ['protoPayload.methodName!~"^storage\\."', false],
    ['protoPayload.authorizationInfo.permission="storage.buckets.get"', true], // any element of a list
    ['protoPayload.authenticationInfo.principalEmail:*', true],
    ['protoPayload.serviceData:*', false],
    ['resource.labels.bucket_name="b"', true],
    ['protoPayload.@type="type.googleapis.com/google.cloud.audit.AuditLog"', true],
    ['protoPayload.serviceName=("bigquery.googleapis.com" OR "storage.googleapis.com")', true],
    ['protoPayload.serviceName=("bigquery.googleapis.com" OR "compute.googleapis.com")', false],
    ['resource.type="gcs_bucket" AND severity="NOTICE"', true],
    ['resource.type="gcs_bucket" severity="NOTICE"', true], // juxtaposition is AND
    ['resource.type="gcs_bucket" AND severity="ERROR"', false],
    ['resource.type="gce_instance" OR severity="NOTICE"', true],
    ['NOT resource.type="gce_instance"', true],
    ['-resource.type="gcs_bucket"', false],
    ['NOT (resource.type="gcs_bucket" AND severity="NOTICE")', false],
    // OR binds tighter than AND: (true OR false) AND false = false; AND first would give true.
    ['severity="NOTICE" OR resource.type="x" AND logName="nope"', false],
    ['resource.type="x" AND logName="nope" OR severity="NOTICE"', false],
    ['(severity="NOTICE" OR resource.type="x") AND (logName="nope" OR protoPayload.serviceName="storage.googleapis.com")', true],
    ['protoPayload.resourceName:"projects/_/buckets/\\"quoted\\""', false],
  ];
  it.each(cases)('%s → %s', (filter, expected) => {
    expect(matchesFilter(parseFilter(filter), bucketUpdate)).toBe(expected);
  });
});

describe('sink filters the sandbox refuses', () => {
  const cases: [filter: string, reason: RegExp][] = [
    ['"the cat in the hat"', /expected a field name/],
    ['robot', /global restrictions/],
    ['severity>=ERROR', /the >= operator .* is not supported/],
    ['timestamp<"2024-01-01"', /the < operator/],
    ['SEARCH("x")', /functions such as SEARCH\(\)/],
    ['logName="a" AND', /ends where a comparison was expected/],
    ['(logName="a"', /missing "\)"/],
    ['logName="a")', /unexpected "\)"/],
    ['logName="unterminated', /unterminated string/],
    ['protoPayload.methodName=~"("', /invalid regular expression/],
    ['logName=*', /only a value after ":"/],
    ['logName=("a" OR "b" AND "c")', /mix of AND and OR/],
  ];
  it.each(cases)('%s', (filter, reason) => {
    expect(() => parseFilter(filter)).toThrow(FilterError);
    expect(() => parseFilter(filter)).toThrow(reason);
  });
});

describe("the drift-events sink's filter", () => {
  const filter = parseFilter(driftEventsFilter('job-match-v0', { buckets: ['legacy-data', 'jobmatch-already-covered'], instances: ['app-vm'] }));
  const cases: [what: string, e: ReturnType<typeof entry>, expected: boolean][] = [
    ['a jobmatch- bucket update', bucketUpdate, true],
    ['a bucket IAM change', entry('storage.googleapis.com', 'storage.setIamPermissions', 'projects/_/buckets/jobmatch-x'), true],
    ['a declared bucket without the prefix', entry('storage.googleapis.com', 'storage.buckets.update', 'projects/_/buckets/legacy-data'), true],
    ["another team's bucket", entry('storage.googleapis.com', 'storage.buckets.update', 'projects/_/buckets/other-team'), false],
    ['a dataset patch', entry('bigquery.googleapis.com', 'google.cloud.bigquery.v2.DatasetService.PatchDataset', 'projects/job-match-v0/datasets/staging_silver'), true],
    ['a dataset update in the legacy format', entry('bigquery.googleapis.com', 'datasetservice.update', 'projects/job-match-v0/datasets/gold'), true],
    ['a BigQuery job', entry('bigquery.googleapis.com', 'google.cloud.bigquery.v2.JobService.InsertJob', 'projects/job-match-v0/jobs/j1'), false],
    ['a table created in a dataset', entry('bigquery.googleapis.com', 'google.cloud.bigquery.v2.TableService.InsertTable', 'projects/job-match-v0/datasets/gold/tables/t'), false],
    ['a dataset of another project', entry('bigquery.googleapis.com', 'google.cloud.bigquery.v2.DatasetService.PatchDataset', 'projects/other/datasets/gold'), false],
    ['a secret version disabled', entry('secretmanager.googleapis.com', 'google.cloud.secretmanager.v1.SecretManagerService.DisableSecretVersion', 'projects/123/secrets/jobmatch-staging-X/versions/2'), true],
    ["another app's secret", entry('secretmanager.googleapis.com', 'google.cloud.secretmanager.v1.SecretManagerService.AddSecretVersion', 'projects/123/secrets/other-app-key'), false],
    ["the project's IAM policy", entry('cloudresourcemanager.googleapis.com', 'SetIamPolicy', 'projects/job-match-v0'), true],
    ['a project update', entry('cloudresourcemanager.googleapis.com', 'UpdateProject', 'projects/job-match-v0'), false],
    ['a jobmatch- VM metadata change', entry('compute.googleapis.com', 'v1.compute.instances.setMetadata', 'projects/job-match-v0/zones/europe-west1-b/instances/jobmatch-staging-vm'), true],
    ['a declared VM metadata change', entry('compute.googleapis.com', 'v1.compute.instances.setMetadata', 'projects/job-match-v0/zones/europe-west1-b/instances/app-vm'), true],
    ['a VM label change', entry('compute.googleapis.com', 'v1.compute.instances.setLabels', 'projects/job-match-v0/zones/europe-west1-b/instances/jobmatch-staging-vm'), false],
    ['a Data Access entry', entry('secretmanager.googleapis.com', 'google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion', 'projects/123/secrets/jobmatch-staging-X/versions/1',
      { logName: 'projects/job-match-v0/logs/cloudaudit.googleapis.com%2Fdata_access' }), false],
  ];
  it.each(cases)('%s → %s', (_what, e, expected) => {
    expect(matchesFilter(filter, e)).toBe(expected);
  });

  it('is the same text for the same inputs, whatever the order or repetition of the names', () => {
    expect(driftEventsFilter('p-1', { buckets: ['b', 'a', 'b'] })).toBe(driftEventsFilter('p-1', { buckets: ['a', 'b'] }));
    expect(driftEventsFilter('p-1', { buckets: ['jobmatch-x'] })).toBe(driftEventsFilter('p-1'));
  });
});
