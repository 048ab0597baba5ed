import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/api/manifests.js';
import { exampleText, mutated } from '../support/manifests.js';
import { acceptedCases, cases } from './validation-cases.js';

describe('manifest validation', () => {
  it('accepts both examples', () => {
    const result = loadManifests([{ file: 'staging.yaml', text: exampleText('staging') }, { file: 'prod.yaml', text: exampleText('prod') }]);
    expect(result.errors).toEqual([]);
    expect(result.environments.map((e) => e.spec.environment)).toEqual(['staging', 'prod']);
  });

  it.each(cases)('rejects $name', ({ mutate, code, path, says }) => {
    const result = loadManifests([{ file: 'm.yaml', text: mutated(mutate) }]);
    expect(result.environments).toEqual([]);
    const match = result.errors.find((e) => e.code === code && e.path === path);
    expect(match, JSON.stringify(result.errors, null, 2)).toBeDefined();
    expect(match!.source).toMatchObject({ file: 'm.yaml', document: 1 });
    expect(match!.fix.length).toBeGreaterThan(0);
    if (says) expect(`${match!.message} ${match!.fix}`).toMatch(says);
  });

  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(acceptedCases)('accepts $name', ({ mutate }) => {
    expect(loadManifests([{ file: 'm.yaml', text: mutated(mutate) }]).errors).toEqual([]);
  });

  it('reports every error of a document at once', () => {
    const text = mutated((d) => {
      d.spec.buckets[0].versionning = true;
      d.spec.datasets[0].datasetId = 'bad-id';
      d.spec.app.config.DB_PASSWORD = 'x';
      d.spec.iam[0].resource = 'secret/NOPE';
    });
    const codes = loadManifests([{ file: 'm.yaml', text }]).errors.map((e) => e.code).sort();
    // the renamed dataset also leaves the binding that names it dangling
    expect(codes).toEqual(['config.secretLike', 'iam.undeclared', 'iam.undeclared', 'name.dataset', 'schema.unknownField']);
  });

  it('explains a bad name once, not also as a bare pattern', () => {
    const errors = loadManifests([{ file: 'm.yaml', text: mutated((d) => (d.spec.buckets[0].name = 'Bad_Bucket')) }]).errors;
    expect(errors.filter((e) => e.path === 'spec.buckets[0].name').map((e) => e.code)).toEqual(['name.bucket']);
  });

  it('accepts keys that only contain a secret word inside another word', () => {
    const text = mutated((d) => Object.assign(d.spec.app.config, { LLM_MAX_TOKENS: '1', SECRETARY_EMAIL: 'a@b.c', KEYBOARD: 'fr' }));
    expect(loadManifests([{ file: 'm.yaml', text }]).errors).toEqual([]);
  });

  it.each([
    ['a dotted name', { name: 'staging.jobmatch.io' }],
    ['a name of 253 characters', { name: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}` }],
    ['a one-character name and namespace', { name: 's', namespace: 'j' }],
    ['a namespace of 63 characters with digits and "-"', { namespace: `team-1-${'x'.repeat(56)}` }],
    ['no namespace at all', { namespace: undefined }],
  ])('accepts %s in metadata', (_, metadata) => {
    const result = loadManifests([{ file: 'm.yaml', text: mutated((d) => Object.assign(d.metadata, metadata)) }]);
    expect(result.errors).toEqual([]);
  });

  it('lets app.config override DEBUG and LOG_LEVEL', () => {
    const text = mutated((d) => Object.assign(d.spec.app.config, { DEBUG: 'false', LOG_LEVEL: 'WARNING' }));
    expect(loadManifests([{ file: 'm.yaml', text }]).errors).toEqual([]);
  });
});

describe('claims across manifests', () => {
  it('rejects the later of two manifests claiming the same bucket', () => {
    const second = mutated((d) => {
      d.metadata.name = 'staging-copy';
      d.spec.environment = 'qa';
      d.spec.envMode = 'dev';
      d.spec.datasets = [];
      d.spec.secrets = [];
      d.spec.vm.name = 'jobmatch-qa-vm';
      d.spec.iam = [];
    });
    const result = loadManifests([{ file: 'a.yaml', text: exampleText('staging') }, { file: 'b.yaml', text: second }]);
    expect(result.environments).toEqual([]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ code: 'claim.duplicate', path: 'spec.buckets[0].name', source: { file: 'b.yaml' } });
    expect(result.errors[0]!.message).toContain('jobmatch/staging (a.yaml');
  });

  it('rejects the same environment declared twice in one project', () => {
    const text = `${exampleText('staging')}\n---\n${mutated((d) => (d.metadata.name = 'staging-2'))}`;
    const errors = loadManifests([{ file: 'both.yaml', text }]).errors;
    expect(errors.every((e) => e.source?.document === 2)).toBe(true);
    expect(errors.map((e) => e.path)).toContain('spec.environment');
    expect(errors.map((e) => e.path)).toContain('spec.secrets[0].name');
    expect(errors.map((e) => e.path)).toContain('spec.vm.name');
  });

  it('accepts staging and prod side by side: nothing shared', () => {
    const text = `${exampleText('staging')}\n---\n${exampleText('prod')}`;
    expect(loadManifests([{ file: 'both.yaml', text }]).errors).toEqual([]);
  });
});
