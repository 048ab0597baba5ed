/** import's pure half: which names the convention takes, and secret names read back from their ids. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_IAM_POLICY } from '../../src/api/iam-policy.js';
import { draftManifest, secretNameOf } from '../../src/import/draft.js';
import { conventionMatch, type ExistingEnvironment } from '../../src/import/existing.js';

describe('the naming convention import finds resources by', () => {
  it.each([
    ['Bucket', 'jobmatch-staging-bronze-job-match-v0', true],
    ['Bucket', 'jobmatch-bronze-job-match-v0', false],
    ['Bucket', 'jobmatch-staging2-bronze', false],
    ['Dataset', 'staging_silver', true],
    ['Dataset', 'silver', false],
    ['Dataset', 'stagingsilver', false],
    ['Secret', 'jobmatch-staging-postgres-password', true],
    ['Secret', 'staging-postgres-password', false],
  ] as const)('%s %s: %s', (kind, name, taken) => {
    expect(conventionMatch(kind, name, 'staging')).toBe(taken);
  });
});

describe('a secret name read back from its id', () => {
  it.each([
    ['jobmatch-staging-postgres-password', 'POSTGRES_PASSWORD'],
    ['jobmatch-staging-llm-api-key', 'LLM_API_KEY'],
    ['jobmatch-staging-Postgres', undefined],
    ['jobmatch-staging-9lives', undefined],
    ['jobmatch-staging-a_b', undefined],
    ['jobmatch-prod-x', undefined],
  ])('%s → %s', (id, name) => {
    expect(secretNameOf('staging', id)).toBe(name);
  });
});

describe('the draft', () => {
  const empty: ExistingEnvironment = { project: 'job-match-v0', environment: 'staging', buckets: [], datasets: [], secrets: [], otherEnvironments: [], errors: [] };

  it('needs a location when nothing was found to take one from', () => {
    expect(draftManifest(empty, { namespace: 'jobmatch', iamPolicy: DEFAULT_IAM_POLICY }).problem).toMatch(/pass --location/);
  });

  it('is the same text for the same input, marked as a draft, adoptExisting on', () => {
    const make = () => draftManifest(empty, { namespace: 'jobmatch', location: 'EU', iamPolicy: DEFAULT_IAM_POLICY });
    expect(make().yaml).toBe(make().yaml);
    expect(make().yaml).toMatch(/^# DRAFT made by jobmatch-operator import/);
    expect(make().manifest.spec.policy).toEqual({ adoptExisting: true });
  });
});
