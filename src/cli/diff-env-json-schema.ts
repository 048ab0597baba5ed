/** The JSON Schema of `diff-env -o json`: the stable contract scripts and CI rely on (a test holds the output to it). */

const value = { type: ['string', 'number', 'boolean', 'null'] };

const difference = {
  type: 'object',
  required: ['group', 'path', 'a', 'b'],
  additionalProperties: false,
  properties: {
    group: { enum: ['gcp', 'behaviour', 'buckets', 'datasets', 'secrets', 'iam', 'config', 'vm', 'deployment'] },
    /** By normalised name, e.g. buckets[bronze].versioning. */
    path: { type: 'string' },
    /** The first environment's value; null: it has none (not declared, or not found in GCP with --observed). */
    a: value,
    b: value,
    /** Covered by spec.parity.expectedDifferences of either side: shown, never failing the run. */
    expected: {
      type: 'object',
      required: ['reason', 'declaredBy'],
      additionalProperties: false,
      properties: { reason: { type: 'string' }, declaredBy: { type: 'string' } },
    },
  },
};

export const DIFF_ENV_JSON_KIND = 'JobMatchParity';

export const DIFF_ENV_JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: DIFF_ENV_JSON_KIND,
  type: 'object',
  required: ['apiVersion', 'kind', 'same'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'jobmatch.io/v1alpha1' },
    kind: { const: DIFF_ENV_JSON_KIND },
    /** No difference but expected ones (exit 0). */
    same: { type: 'boolean' },
    a: { type: 'string' },
    b: { type: 'string' },
    /** manifests: the two specs compared; observed: what GCP holds for each (--observed). */
    source: { enum: ['manifests', 'observed'] },
    summary: {
      type: 'object',
      required: ['differences', 'expected', 'unexpected'],
      additionalProperties: false,
      properties: Object.fromEntries(['differences', 'expected', 'unexpected'].map((k) => [k, { type: 'integer', minimum: 0 }])),
    },
    differences: { type: 'array', items: difference },
    /** The run failed (bad flags or manifests, unknown environment, GCP unreachable): exit 1, nothing compared. */
    error: { type: 'object', required: ['message'], additionalProperties: false, properties: { message: { type: 'string' } } },
  },
  if: { not: { required: ['error'] } },
  then: { required: ['a', 'b', 'source', 'summary', 'differences'] },
} as const;
