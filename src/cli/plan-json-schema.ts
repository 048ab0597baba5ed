/** The JSON Schema of `plan -o json` / `apply -o json`: the stable contract scripts and CI rely on (a test holds the output to it). */

const summary = {
  type: 'object',
  required: ['create', 'update', 'adopt', 'delete', 'conflict', 'pending', 'orphan', 'error', 'inSync'],
  additionalProperties: false,
  properties: Object.fromEntries(['create', 'update', 'adopt', 'delete', 'conflict', 'pending', 'orphan', 'error', 'inSync'].map((k) => [k, { type: 'integer', minimum: 0 }])),
};

const change = {
  type: 'object',
  required: ['field', 'before', 'after'],
  additionalProperties: false,
  properties: { field: { type: 'string' }, before: {}, after: {} },
};

/** What went wrong, keeping Google's own code, status and reason when the failure came from a call. */
const error = {
  type: 'object',
  required: ['message'],
  additionalProperties: false,
  properties: { message: { type: 'string' }, code: { type: 'integer' }, status: { type: 'string' }, reason: { type: 'string' } },
};

const action = {
  type: 'object',
  required: ['id', 'kind', 'name', 'verb', 'changes', 'steps'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    kind: { enum: ['Bucket', 'Dataset', 'Secret', 'IAMBinding', 'Deployment'] },
    name: { type: 'string' },
    verb: { enum: ['create', 'update', 'adopt', 'delete', 'none', 'conflict', 'pending', 'orphan', 'error'] },
    changes: { type: 'array', items: change },
    message: { type: 'string' },
    pending: { type: 'string' },
    /** The exact writes apply makes, each with the precondition it relies on (kind, op, and the kind's fields). */
    steps: { type: 'array', items: { type: 'object', required: ['kind', 'op'], properties: { kind: { type: 'string' }, op: { type: 'string' } } } },
    dependsOn: { type: 'string' },
    /** Actions whose steps must all succeed before this one's (a rollout after its secrets' new versions). */
    after: { type: 'array', items: { type: 'string' } },
    /** What may go wrong later though nothing is wrong now (a VM that cannot read a secret). */
    warnings: { type: 'array', items: { type: 'string' } },
    outcome: { enum: ['ok', 'error', 'skipped', 'conflict', 'cancelled'] },
    error,
  },
};

export const PLAN_JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'JobMatchPlan',
  type: 'object',
  required: ['apiVersion', 'kind', 'inSync', 'ready', 'environments'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'jobmatch.io/v1alpha1' },
    kind: { const: 'JobMatchPlan' },
    inSync: { type: 'boolean' },
    /** Every environment in sync, with no conflict, error or pending action: its apps can start. */
    ready: { type: 'boolean' },
    /** The run itself failed (bad flags, no credentials, endpoint unreachable, deadline passed). */
    error,
    environments: {
      type: 'array',
      items: {
        type: 'object',
        required: ['environment', 'namespace', 'name', 'project', 'dryRun', 'reportOnly', 'suspended', 'inSync', 'ready', 'summary', 'actions', 'observeErrors', 'manifest', 'manifestDigest'],
        additionalProperties: false,
        properties: {
          environment: { type: 'string' },
          namespace: { type: 'string' },
          name: { type: 'string' },
          project: { type: 'string' },
          dryRun: { type: 'boolean' },
          reportOnly: { type: 'boolean' },
          suspended: { type: 'boolean' },
          inSync: { type: 'boolean' },
          ready: { type: 'boolean' },
          cancelled: { type: 'boolean' },
          summary,
          actions: { type: 'array', items: action },
          observeErrors: { type: 'object', additionalProperties: { type: 'string' } },
          /** The manifest planned (defaults filled in): apply --plan applies against it. */
          manifest: { type: 'object', required: ['apiVersion', 'kind', 'metadata', 'spec'] },
          /** sha256 of the manifest's canonical JSON: apply --plan refuses a plan whose manifest does not match it. */
          manifestDigest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
          after: { type: 'object', required: ['inSync', 'ready', 'summary'], additionalProperties: false, properties: { inSync: { type: 'boolean' }, ready: { type: 'boolean' }, summary } },
        },
      },
    },
  },
} as const;
