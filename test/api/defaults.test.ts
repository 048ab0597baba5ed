import { describe, expect, it } from 'vitest';
import { resolveSpec } from '../../src/api/defaults.js';
import { deletionPolicyLabelValue } from '../../src/api/naming.js';
import type { JobMatchEnvironmentSpec } from '../../src/api/types.js';

const minimal: JobMatchEnvironmentSpec = {
  environment: 'qa',
  gcp: { projectId: 'job-match-v0', location: 'EU' },
  buckets: [{ name: 'jobmatch-qa-bronze' }],
  datasets: [{ datasetId: 'qa_gold' }],
  secrets: [{ name: 'POSTGRES_PASSWORD', source: 'generate' }, { name: 'LLM_API_KEY', source: 'external' }],
};

describe('resolved spec defaults', () => {
  it('retains buckets, datasets and secrets unless told to delete them', () => {
    const spec = resolveSpec(minimal);
    expect([...spec.buckets, ...spec.datasets, ...spec.secrets].map((r) => r.deletionPolicy)).toEqual(['Retain', 'Retain', 'Retain', 'Retain']);
  });

  it('keeps a declared secret deletionPolicy', () => {
    const spec = resolveSpec({ ...minimal, secrets: [{ name: 'LLM_API_KEY', source: 'external', deletionPolicy: 'Delete' }] });
    expect(spec.secrets[0]!.deletionPolicy).toBe('Delete');
  });

  it('does not adopt existing resources unless asked', () => {
    expect(resolveSpec(minimal).policy.adoptExisting).toBe(false);
    expect(resolveSpec({ ...minimal, policy: { adoptExisting: true } }).policy.adoptExisting).toBe(true);
  });
});

describe('deletion policy label', () => {
  it.each([['Retain', 'retain'], ['Delete', 'delete']] as const)('writes %s as %s', (policy, label) => {
    expect(deletionPolicyLabelValue(policy)).toBe(label);
  });
});
