/** Validates documents against the CRD's own openAPIV3Schema (compiled with ajv), applying its defaults. */
import type { ErrorObject } from 'ajv';
import { validateDocument } from './document-validator.js';
import type { OpenApiSchema } from './openapi.js';
import { fieldError, joinPath, type FieldError } from './field-error.js';

function pathOf(e: ErrorObject): (string | number)[] {
  return e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function closest(name: string, candidates: string[]): string | undefined {
  const scored = candidates.map((c) => ({ c, d: editDistance(name, c) })).sort((x, y) => x.d - y.d);
  const best = scored[0];
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.c : undefined;
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** One ajv error as a field error with its path and a fix (shared by every schema the operator reads). */
export function translate(e: ErrorObject): FieldError {
  const at = pathOf(e);
  const schema = (e.parentSchema ?? {}) as OpenApiSchema;
  const about = schema.description ? ` (${schema.description})` : '';
  switch (e.keyword) {
    case 'required': {
      const field = (e.params as { missingProperty: string }).missingProperty;
      const described = schema.properties?.[field]?.description;
      return fieldError('schema.required', joinPath([...at, field]), 'required field is missing',
        `add ${field}${described ? `: ${described}` : ''}`);
    }
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(schema.properties ?? {});
      const guess = closest(field, known);
      return fieldError('schema.unknownField', joinPath([...at, field]), 'unknown field',
        guess ? `did you mean "${guess}"? Known fields: ${known.join(', ')}` : `remove it; known fields here: ${known.join(', ')}`);
    }
    case 'type':
      return fieldError('schema.type', joinPath(at), `must be ${(e.params as { type: string }).type}, got ${typeName(e.data)}`,
        `write a ${(e.params as { type: string }).type}${about}`);
    case 'enum':
      return fieldError('schema.enum', joinPath(at), `${JSON.stringify(e.data)} is not allowed`,
        `use one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`);
    case 'pattern':
      return fieldError('schema.pattern', joinPath(at), `${JSON.stringify(e.data)} does not match ${(e.params as { pattern: string }).pattern}`,
        `use a valid value${about}`);
    case 'format':
      return fieldError('schema.format', joinPath(at), `${JSON.stringify(e.data)} is not a valid ${(e.params as { format: string }).format}`,
        'use an RFC 3339 timestamp such as 2026-01-01T00:00:00Z');
    default:
      return fieldError(`schema.${e.keyword}`, joinPath(at), e.message ?? 'is invalid', `fix the value${about}`);
  }
}

/** Checks one document against the CRD schema, filling in the schema's defaults in place. */
export function validateAgainstSchema(doc: unknown): FieldError[] {
  if (validateDocument(doc)) return [];
  return (validateDocument.errors ?? []).map(translate);
}
