/**
 * The CRD's own openAPIV3Schema compiled with ajv: the function that checks a document and fills in the
 * schema's defaults. Compiling it takes 70–200 ms, a large share of a CLI run, so the CLI's bundle does not:
 * scripts/bundle.mjs puts in place of this module the very function compileDocumentValidator() below makes,
 * compiled at build time into ajv's standalone code. Tests and tsx runs compile it here, when first imported.
 */
import { Ajv, type CodeOptions, type ValidateFunction } from 'ajv';
import { OPENAPI_SCHEMA } from './crd.js';
import { closeObjects } from './openapi.js';

/** The `date-time` format (RFC 3339). Self-contained: the build copies its source into the standalone code. */
export const isDateTime = (s: string): boolean => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s));

/** `code`: ajv's code options (the build asks for the source, to print it as standalone code). */
export function compileDocumentValidator(code?: CodeOptions): { ajv: Ajv; validate: ValidateFunction } {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, ...(code ? { code } : {}) });
  ajv.addKeyword('x-kubernetes-list-type');
  ajv.addKeyword('x-kubernetes-list-map-keys');
  ajv.addKeyword('x-kubernetes-map-type');
  // The CRD's CEL rules: the CLI checks the same rules in semantic-validation.ts, with per-key messages.
  ajv.addKeyword('x-kubernetes-validations');
  ajv.addFormat('date-time', { type: 'string', validate: isDateTime });
  return { ajv, validate: ajv.compile(closeObjects(OPENAPI_SCHEMA)) };
}

export const validateDocument: ValidateFunction = compileDocumentValidator().validate;
