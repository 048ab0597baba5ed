import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CRD, OPENAPI_SCHEMA } from '../../src/api/crd.js';
import { renderCrdYaml } from '../../src/api/crd-yaml.js';
import type { OpenApiSchema } from '../../src/api/openapi.js';

const CRD_FILE = new URL('../../crds/jobmatchenvironments.jobmatch.io.yaml', import.meta.url);

function* nodes(schema: OpenApiSchema, path = ''): Generator<[string, OpenApiSchema]> {
  yield [path, schema];
  for (const [k, v] of Object.entries(schema.properties ?? {})) yield* nodes(v, `${path}.${k}`);
  if (schema.items) yield* nodes(schema.items, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') yield* nodes(schema.additionalProperties, `${path}{}`);
}

describe('the CRD file', () => {
  it('is exactly what src/api/crd.ts generates (run `npm run crd` after changing the schema)', () => {
    expect(readFileSync(CRD_FILE, 'utf8')).toBe(renderCrdYaml());
  });

  it('parses back to the CRD object', () => {
    expect(parse(readFileSync(CRD_FILE, 'utf8'))).toEqual(JSON.parse(JSON.stringify(CRD)));
  });

  it('names the API as API.md fixes it', () => {
    expect(CRD.metadata.name).toBe('jobmatchenvironments.jobmatch.io');
    expect(CRD.spec.scope).toBe('Namespaced');
    expect(CRD.spec.names).toMatchObject({ kind: 'JobMatchEnvironment', plural: 'jobmatchenvironments', singular: 'jobmatchenvironment', shortNames: ['jme'] });
    const [version] = CRD.spec.versions;
    expect(version.name).toBe('v1alpha1');
    expect(version.subresources).toEqual({ status: {} });
    expect(version.additionalPrinterColumns.map((c) => c.name)).toEqual(['Environment', 'Project', 'Ready', 'Reason', 'Synced', 'Deployed', 'Age', 'Deployed-Hash']);
  });
});

describe('the openAPIV3Schema is structural', () => {
  const all = [...nodes(OPENAPI_SCHEMA)];

  it('gives every field a type', () => {
    expect(all.filter(([, s]) => s.type === undefined).map(([p]) => p)).toEqual([]);
  });

  it('describes every field, so kubectl explain is useful (metadata is described by Kubernetes itself)', () => {
    expect(all.filter(([, s]) => !s.description).map(([p]) => p)).toEqual(['.metadata']);
  });

  it('never puts additionalProperties beside properties', () => {
    expect(all.filter(([, s]) => s.properties && s.additionalProperties !== undefined).map(([p]) => p)).toEqual([]);
  });

  it('types every map as a map of strings', () => {
    const maps = all.filter(([, s]) => s.additionalProperties !== undefined);
    expect(maps.length).toBeGreaterThan(3);
    for (const [, s] of maps) expect(s.additionalProperties).toMatchObject({ type: 'string' });
  });

  it('has only objects with properties or maps, except metadata', () => {
    const open = all.filter(([, s]) => s.type === 'object' && !s.properties && s.additionalProperties === undefined);
    expect(open.map(([p]) => p)).toEqual(['.metadata']);
  });

  it('gives every array its items', () => {
    expect(all.filter(([, s]) => s.type === 'array' && !s.items).map(([p]) => p)).toEqual([]);
  });

  it('keeps defaults valid against their own field', () => {
    for (const [path, s] of all.filter(([, s]) => s.default !== undefined)) {
      if (s.enum) expect(s.enum, path).toContain(s.default);
      if (s.type === 'object') expect(typeof s.default, path).toBe('object');
      if (s.type === 'integer') expect(Number.isInteger(s.default), path).toBe(true);
    }
  });

  it('keys the lists of resources and bindings as maps, by fields every item must have', () => {
    const spec = OPENAPI_SCHEMA.properties!.spec!.properties!;
    const keys = Object.fromEntries(['buckets', 'datasets', 'secrets', 'iam'].map((l) => [l, spec[l]!['x-kubernetes-list-map-keys']]));
    expect(keys).toEqual({ buckets: ['name'], datasets: ['datasetId'], secrets: ['name'], iam: ['member', 'role', 'resource'] });
    for (const l of Object.keys(keys)) {
      expect(spec[l]!['x-kubernetes-list-type'], l).toBe('map');
      expect(spec[l]!.items!.required, l).toEqual(expect.arrayContaining(keys[l]!));
    }
  });

  it('gives every CEL rule a message that says what is wrong and, after a colon, the fix', () => {
    const rules = all.flatMap(([path, s]) => (s['x-kubernetes-validations'] ?? []).map((r) => ({ path, ...r })));
    expect(rules.length).toBeGreaterThan(30);
    for (const r of rules) expect(r.message, `${r.path}: ${r.rule}`).toMatch(/\S: \S/);
    // the fields a rule reports at exist
    for (const r of rules.filter((x) => x.fieldPath)) {
      const node = all.find(([p]) => p === `${r.path}${r.fieldPath}`);
      expect(node, `${r.path} ${r.fieldPath}`).toBeDefined();
    }
  });

  it('marks the conditions list as a map keyed by type', () => {
    const conditions = OPENAPI_SCHEMA.properties!.status!.properties!.conditions!;
    expect(conditions['x-kubernetes-list-type']).toBe('map');
    expect(conditions.items!.required).toContain('type');
  });
});
