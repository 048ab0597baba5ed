import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_SCHEMA } from '../../src/api/crd.js';
import { loadManifests } from '../../src/api/manifests.js';
import type { OpenApiSchema } from '../../src/api/openapi.js';
import { validateAgainstSchema } from '../../src/api/schema-validation.js';
import { everyField } from '../support/every-field.js';

/** Where schema and value disagree on which fields an object has: [path, only in schema, only in value]. */
function fieldMismatches(schema: OpenApiSchema, value: unknown, path = ''): [string, string[], string[]][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => fieldMismatches(schema.items!, v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null || !schema.properties) return [];
  const inSchema = Object.keys(schema.properties);
  const inValue = Object.keys(value);
  const here: [string, string[], string[]][] = [];
  const onlySchema = inSchema.filter((k) => !inValue.includes(k));
  const onlyValue = inValue.filter((k) => !inSchema.includes(k));
  if (onlySchema.length + onlyValue.length > 0) here.push([path, onlySchema, onlyValue]);
  return [...here, ...inValue.flatMap((k) => (schema.properties![k] ? fieldMismatches(schema.properties![k]!, (value as Record<string, unknown>)[k], `${path}.${k}`) : []))];
}

describe('TypeScript types and CRD schema', () => {
  it('declare exactly the same fields', () => {
    const mismatches = fieldMismatches(OPENAPI_SCHEMA, everyField).filter(([p]) => p !== '.metadata');
    expect(mismatches).toEqual([]);
  });

  it('agree on every value type: a fully typed object passes the schema', () => {
    expect(validateAgainstSchema(structuredClone(everyField))).toEqual([]);
  });

  it('accept the example of API.md, field for field', () => {
    const text = readFileSync(new URL('../fixtures/api-md-example.yaml', import.meta.url), 'utf8');
    const result = loadManifests([{ file: 'API.md', text }]);
    expect(result.errors).toEqual([]);
    expect(result.environments[0]!.spec.buckets[0]).toMatchObject({ versioning: true, lifecycle: { deleteAfterDays: 365 }, deletionPolicy: 'Retain' });
  });
});
