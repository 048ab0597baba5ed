/**
 * The table of invalid manifests: each is the staging example with one change, the error code and path the
 * CLI reports, and a word its message or fix must contain. validation-cases.test.ts holds the CLI to it;
 * apiserver-acceptance.test.ts holds the CRD to it (the apiserver refuses each single-object case too).
 */
import { withoutVm, type Doc } from '../support/manifests.js';

export interface Case {
  name: string;
  mutate: (doc: Doc) => void;
  code: string;
  path: string;
  /** A word the message or fix must contain, so the user knows what to do. */
  says?: RegExp;
}

const SA = 'serviceAccount:jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';

export const cases: Case[] = [
  // shape (the CRD schema)
  { name: 'unknown top-level spec field', mutate: (d) => (d.spec.colour = 'blue'), code: 'schema.unknownField', path: 'spec.colour' },
  { name: 'misspelled bucket field suggests the right one', mutate: (d) => (d.spec.buckets[0].versionning = true), code: 'schema.unknownField', path: 'spec.buckets[0].versionning', says: /did you mean "versioning"/ },
  { name: 'unknown field in gcp', mutate: (d) => (d.spec.gcp.region = 'x'), code: 'schema.unknownField', path: 'spec.gcp.region' },
  { name: 'unknown field in policy', mutate: (d) => (d.spec.policy.dryRun = true), code: 'schema.unknownField', path: 'spec.policy.dryRun' },
  { name: 'unknown top-level field', mutate: (d) => (d.extra = 1), code: 'schema.unknownField', path: 'extra' },
  { name: 'missing spec', mutate: (d) => delete d.spec, code: 'schema.required', path: 'spec' },
  { name: 'missing environment', mutate: (d) => delete d.spec.environment, code: 'schema.required', path: 'spec.environment' },
  { name: 'missing gcp.projectId', mutate: (d) => delete d.spec.gcp.projectId, code: 'schema.required', path: 'spec.gcp.projectId' },
  { name: 'missing gcp.location', mutate: (d) => delete d.spec.gcp.location, code: 'schema.required', path: 'spec.gcp.location' },
  { name: 'bucket without name', mutate: (d) => delete d.spec.buckets[0].name, code: 'schema.required', path: 'spec.buckets[0].name' },
  { name: 'dataset without datasetId', mutate: (d) => delete d.spec.datasets[1].datasetId, code: 'schema.required', path: 'spec.datasets[1].datasetId' },
  { name: 'secret without source', mutate: (d) => delete d.spec.secrets[2].source, code: 'schema.required', path: 'spec.secrets[2].source' },
  { name: 'vm without zone', mutate: (d) => delete d.spec.vm.zone, code: 'schema.required', path: 'spec.vm.zone' },
  { name: 'versioning as a string', mutate: (d) => (d.spec.buckets[0].versioning = 'yes'), code: 'schema.type', path: 'spec.buckets[0].versioning', says: /boolean/ },
  { name: 'buckets as a map', mutate: (d) => (d.spec.buckets = { a: 1 }), code: 'schema.type', path: 'spec.buckets' },
  { name: 'config value as a number', mutate: (d) => (d.spec.app.config.POSTGRES_PORT = 5432), code: 'schema.type', path: 'spec.app.config.POSTGRES_PORT', says: /string/ },
  { name: 'label value as a boolean', mutate: (d) => (d.spec.buckets[0].labels.team = true), code: 'schema.type', path: 'spec.buckets[0].labels.team' },
  { name: 'resyncSeconds as a float', mutate: (d) => (d.spec.policy.resyncSeconds = 1.5), code: 'schema.type', path: 'spec.policy.resyncSeconds' },
  { name: 'unknown envMode', mutate: (d) => (d.spec.envMode = 'production'), code: 'schema.enum', path: 'spec.envMode', says: /local, dev, staging, prod/ },
  { name: 'unknown storage class', mutate: (d) => (d.spec.buckets[0].storageClass = 'HOT'), code: 'schema.enum', path: 'spec.buckets[0].storageClass' },
  { name: 'unknown secret source', mutate: (d) => (d.spec.secrets[0].source = 'vault'), code: 'schema.enum', path: 'spec.secrets[0].source' },
  { name: 'unknown drift policy', mutate: (d) => (d.spec.policy.drift = 'Ignore'), code: 'schema.enum', path: 'spec.policy.drift' },
  { name: 'environment with upper case', mutate: (d) => (d.spec.environment = 'Staging'), code: 'schema.pattern', path: 'spec.environment' },
  { name: 'environment too long', mutate: (d) => (d.spec.environment = 'a'.repeat(21)), code: 'schema.maxLength', path: 'spec.environment' },
  { name: 'invalid project id', mutate: (d) => (d.spec.gcp.projectId = 'Job_Match'), code: 'schema.pattern', path: 'spec.gcp.projectId' },
  { name: 'secret length too short', mutate: (d) => (d.spec.secrets[1].generate.length = 8), code: 'schema.minimum', path: 'spec.secrets[1].generate.length' },
  { name: 'rotationDays zero', mutate: (d) => (d.spec.secrets[0].rotationDays = 0), code: 'schema.minimum', path: 'spec.secrets[0].rotationDays' },
  { name: 'health check URL not http', mutate: (d) => (d.spec.app.healthCheck.url = 'localhost:8080'), code: 'schema.pattern', path: 'spec.app.healthCheck.url' },
  { name: 'relative compose directory', mutate: (d) => (d.spec.app.compose.directory = 'opt/jobmatch'), code: 'schema.pattern', path: 'spec.app.compose.directory' },
  { name: 'invalid zone', mutate: (d) => (d.spec.vm.zone = 'europe-west1'), code: 'schema.pattern', path: 'spec.vm.zone' },
  { name: 'malformed role', mutate: (d) => (d.spec.iam[0].role = 'secretmanager.secretAccessor'), code: 'schema.pattern', path: 'spec.iam[0].role' },
  // GCP naming rules
  { name: 'bucket name with upper case', mutate: (d) => (d.spec.buckets[0].name = 'JobMatch-Bronze'), code: 'name.bucket', path: 'spec.buckets[0].name', says: /lowercase/ },
  { name: 'bucket name too short', mutate: (d) => (d.spec.buckets[0].name = 'ab'), code: 'name.bucket', path: 'spec.buckets[0].name', says: /3 to 222/ },
  { name: 'bucket name over 63 without dots', mutate: (d) => (d.spec.buckets[0].name = 'a'.repeat(64)), code: 'name.bucket', path: 'spec.buckets[0].name', says: /63/ },
  { name: 'bucket name starting with goog', mutate: (d) => (d.spec.buckets[0].name = 'goog-bronze'), code: 'name.bucket', path: 'spec.buckets[0].name', says: /goog/ },
  { name: 'bucket name containing google', mutate: (d) => (d.spec.buckets[0].name = 'my-g00gle-data'), code: 'name.bucket', path: 'spec.buckets[0].name', says: /google/ },
  { name: 'bucket name like an IP address', mutate: (d) => (d.spec.buckets[0].name = '192.168.5.4'), code: 'name.bucket', path: 'spec.buckets[0].name', says: /IP address/ },
  { name: 'dataset id with a hyphen', mutate: (d) => (d.spec.datasets[0].datasetId = 'staging-silver'), code: 'name.dataset', path: 'spec.datasets[0].datasetId', says: /underscores/ },
  { name: 'secret id over 255 characters', mutate: (d) => (d.spec.secrets[0].name = `A${'B'.repeat(239)}`, d.spec.iam = []), code: 'name.secretId', path: 'spec.secrets[0].name', says: /255/ },
  { name: 'bad label key', mutate: (d) => (d.spec.buckets[0].labels = { Team: 'data' }), code: 'label.invalid', path: 'spec.buckets[0].labels.Team' },
  { name: 'managed-by label set by hand', mutate: (d) => (d.spec.datasets[0].labels['managed-by'] = 'me'), code: 'label.reserved', path: 'spec.datasets[0].labels["managed-by"]' },
  { name: 'environment label, even naming this environment', mutate: (d) => (d.spec.buckets[0].labels['jobmatch-environment'] = 'staging'), code: 'label.reserved', path: 'spec.buckets[0].labels["jobmatch-environment"]' },
  { name: 'deletion-policy label set by hand', mutate: (d) => (d.spec.buckets[0].labels['jobmatch-deletion-policy'] = 'delete'), code: 'label.reserved', path: 'spec.buckets[0].labels["jobmatch-deletion-policy"]', says: /deletionPolicy/ },
  { name: 'unknown secret deletionPolicy', mutate: (d) => (d.spec.secrets[0].deletionPolicy = 'Keep'), code: 'schema.enum', path: 'spec.secrets[0].deletionPolicy' },
  { name: 'adoptExisting as a string', mutate: (d) => (d.spec.policy.adoptExisting = 'yes'), code: 'schema.type', path: 'spec.policy.adoptExisting' },
  { name: 'environment label naming another environment', mutate: (d) => (d.spec.buckets[0].labels['jobmatch-environment'] = 'prod'), code: 'label.reserved', path: 'spec.buckets[0].labels["jobmatch-environment"]' },
  // .env keys
  { name: 'export name not an env var', mutate: (d) => (d.spec.buckets[0].env = 'gcs-bucket'), code: 'schema.pattern', path: 'spec.buckets[0].env' },
  { name: 'two resources export the same variable', mutate: (d) => (d.spec.datasets[1].env = 'BIGQUERY_SILVER_DATASET'), code: 'duplicate', path: 'spec.datasets[1].env' },
  { name: 'export uses a reserved key', mutate: (d) => (d.spec.buckets[0].env = 'GCP_PROJECT_ID'), code: 'env.reserved', path: 'spec.buckets[0].env' },
  { name: 'export named like a secret', mutate: (d) => (d.spec.buckets[0].env = 'LLM_API_KEY'), code: 'env.secretClash', path: 'spec.buckets[0].env' },
  { name: 'config sets ENV_MODE', mutate: (d) => (d.spec.app.config.ENV_MODE = 'prod'), code: 'env.reserved', path: 'spec.app.config.ENV_MODE', says: /spec.envMode/ },
  { name: 'config sets GCP_PROJECT_ID', mutate: (d) => (d.spec.app.config.GCP_PROJECT_ID = 'x'), code: 'env.reserved', path: 'spec.app.config.GCP_PROJECT_ID' },
  { name: 'config repeats an export', mutate: (d) => (d.spec.app.config.GCS_BUCKET = 'other'), code: 'env.duplicate', path: 'spec.app.config.GCS_BUCKET' },
  { name: 'config key in lower case', mutate: (d) => (d.spec.app.config['postgres_host'] = 'db'), code: 'env.name', path: 'spec.app.config.postgres_host' },
  { name: 'config DB_PASSWORD', mutate: (d) => (d.spec.app.config.DB_PASSWORD = 'hunter2'), code: 'config.secretLike', path: 'spec.app.config.DB_PASSWORD', says: /declare it in spec.secrets/ },
  { name: 'config API_TOKEN', mutate: (d) => (d.spec.app.config.API_TOKEN = 't'), code: 'config.secretLike', path: 'spec.app.config.API_TOKEN' },
  { name: 'config OPENAI_API_KEY', mutate: (d) => (d.spec.app.config.OPENAI_API_KEY = 'k'), code: 'config.secretLike', path: 'spec.app.config.OPENAI_API_KEY' },
  { name: 'config GCP_PRIVATE_KEY', mutate: (d) => (d.spec.app.config.GCP_PRIVATE_KEY = 'k'), code: 'config.secretLike', path: 'spec.app.config.GCP_PRIVATE_KEY' },
  { name: 'config DJANGO_SECRET_KEY', mutate: (d) => (d.spec.app.config.DJANGO_SECRET_KEY = 'k'), code: 'config.secretLike', path: 'spec.app.config.DJANGO_SECRET_KEY' },
  { name: 'config SMTP_CREDENTIALS', mutate: (d) => (d.spec.app.config.SMTP_CREDENTIALS = 'k'), code: 'config.secretLike', path: 'spec.app.config.SMTP_CREDENTIALS' },
  { name: 'config value with a newline', mutate: (d) => (d.spec.app.config.LLM_MODEL = 'gpt-4\nEVIL=1'), code: 'value.newline', path: 'spec.app.config.LLM_MODEL' },
  { name: 'config value with a carriage return', mutate: (d) => (d.spec.app.config.LLM_MODEL = 'gpt-4\r'), code: 'value.newline', path: 'spec.app.config.LLM_MODEL' },
  // secrets
  { name: 'rotationDays on an external secret', mutate: (d) => (d.spec.secrets[2].rotationDays = 30), code: 'secret.external', path: 'spec.secrets[2].rotationDays' },
  { name: 'secret declared twice', mutate: (d) => d.spec.secrets.push({ name: 'LLM_API_KEY', source: 'external' }), code: 'duplicate', path: 'spec.secrets[4].name' },
  { name: 'secret name in lower case', mutate: (d) => (d.spec.secrets[0].name = 'postgres_password'), code: 'schema.pattern', path: 'spec.secrets[0].name' },
  // IAM
  { name: 'IAM on an undeclared secret', mutate: (d) => (d.spec.iam[0].resource = 'secret/REDIS_PASSWORD'), code: 'iam.undeclared', path: 'spec.iam[0].resource', says: /spec.secrets/ },
  { name: 'IAM on the deploy key of an environment without a VM', mutate: (d) => { delete d.spec.vm; delete d.spec.app.compose; delete d.spec.app.healthCheck; }, code: 'iam.undeclared', path: 'spec.iam[4].resource', says: /secret\/deploy-key/ },
  { name: 'IAM on an undeclared bucket', mutate: (d) => (d.spec.iam[4].resource = 'bucket/other-bucket'), code: 'iam.undeclared', path: 'spec.iam[4].resource' },
  { name: 'IAM on an undeclared dataset', mutate: (d) => (d.spec.iam[5].resource = 'dataset/silver'), code: 'iam.undeclared', path: 'spec.iam[5].resource' },
  { name: 'IAM resource of an unknown kind', mutate: (d) => (d.spec.iam[0].resource = 'topic/x'), code: 'schema.pattern', path: 'spec.iam[0].resource' },
  { name: 'member without a type', mutate: (d) => (d.spec.iam[0].member = 'jobmatch@job-match-v0.iam.gserviceaccount.com'), code: 'iam.member', path: 'spec.iam[0].member', says: /serviceAccount:EMAIL/ },
  { name: 'serviceAccount member without an email', mutate: (d) => (d.spec.iam[0].member = 'serviceAccount:jobmatch'), code: 'iam.member', path: 'spec.iam[0].member', says: /email/ },
  { name: 'allUsers on a secret', mutate: (d) => (d.spec.iam[0].member = 'allUsers'), code: 'policy.iam.public', path: 'spec.iam[0].member', says: /named member/ },
  { name: 'allUsers on a dataset', mutate: (d) => d.spec.iam.push({ member: 'allUsers', role: 'roles/bigquery.dataViewer', resource: 'dataset/staging_gold' }), code: 'policy.iam.public', path: 'spec.iam[9].member' },
  { name: 'allAuthenticatedUsers on the project', mutate: (d) => d.spec.iam.push({ member: 'allAuthenticatedUsers', role: 'roles/logging.logWriter', resource: 'project' }), code: 'policy.iam.public', path: 'spec.iam[9].member' },
  { name: 'principalSet://goog/public:all on a bucket', mutate: (d) => d.spec.iam.push({ member: 'principalSet://goog/public:all', role: 'roles/storage.objectViewer', resource: `bucket/${d.spec.buckets[0].name}` }), code: 'policy.iam.public', path: 'spec.iam[9].member' },
  { name: 'ALLUSERS in upper case on a secret', mutate: (d) => (d.spec.iam[0].member = 'ALLUSERS'), code: 'policy.iam.public', path: 'spec.iam[0].member' },
  { name: 'the same binding twice', mutate: (d) => d.spec.iam.push({ ...d.spec.iam[0] }), code: 'duplicate', path: 'spec.iam[9]' },
  // parity
  { name: 'parity reference naming the environment itself', mutate: (d) => (d.spec.parity.reference = 'staging'), code: 'parity.reference', path: 'spec.parity.reference', says: /names this environment itself/ },
  { name: 'parity reference that is not an environment name', mutate: (d) => (d.spec.parity.reference = 'Prod'), code: 'schema.pattern', path: 'spec.parity.reference' },
  { name: 'expected difference without a reason', mutate: (d) => delete d.spec.parity.expectedDifferences[0].reason, code: 'schema.required', path: 'spec.parity.expectedDifferences[0].reason' },
  { name: 'unknown field in parity', mutate: (d) => (d.spec.parity.references = 'prod'), code: 'schema.unknownField', path: 'spec.parity.references' },
  // deployment
  { name: 'vm without compose', mutate: (d) => delete d.spec.app.compose, code: 'app.compose', path: 'spec.app.compose' },
  { name: 'compose without vm', mutate: (d) => delete d.spec.vm, code: 'app.vm', path: 'spec.app.compose' },
  ...([
    ['ref', '$(reboot)', /letters, digits/], ['ref', '--upload-pack=touch', /must not start with "-"/], ['ref', '`reboot`', /letters, digits/],
    ['ref', 'main..evil', /git ref/], ['ref', 'v1.lock', /git ref/], ['ref', '.hidden', /start with a letter/],
    ['file', '../../etc/passwd', /inside the checkout/], ['file', '/etc/shadow', /relative/], ['file', 'deploy/../../x.yml', /inside the checkout/], ['file', 'a;b.yml', /letters, digits/],
    ['directory', '/', /must not be "\/"/], ['directory', '/etc', /system directory/], ['directory', '/usr/lib/jobmatch', /system directory/], ['directory', '/root', /system directory/],
    ['directory', '/opt/../etc', /plain path/], ['directory', '/opt/jobmatch/', /plain path/], ['directory', '/opt/$(reboot)', /letters, digits/],
  ] as const).map(([field, value, says]): Case => ({
    name: `compose.${field} ${JSON.stringify(value)}`, mutate: (d) => (d.spec.app.compose[field] = value), code: `compose.${field}`, path: `spec.app.compose.${field}`, says,
  })),
  // documents
  { name: 'metadata without name', mutate: (d) => delete d.metadata.name, code: 'metadata.name', path: 'metadata.name' },
  ...[
    ['with upper case', 'Staging'], ['with an underscore', 'stag_ing'], ['ending in "-"', 'staging-'], ['starting with "."', '.staging'],
    ['with an empty dot-part', 'a..b'], ['with "-" before a dot', 'a-.b'], ['of 254 characters', 'a'.repeat(254)], ['as a number', 42],
  ].map(([what, name]): Case => ({
    name: `metadata.name ${what}`, mutate: (d) => (d.metadata.name = name), code: 'metadata.name', path: 'metadata.name', says: /DNS-1123 subdomain/,
  })),
  ...[
    ['with upper case and "_"', 'Bad_NS'], ['with a dot', 'job.match'], ['ending in "-"', 'jobmatch-'], ['of 64 characters', 'a'.repeat(64)], ['empty', ''], ['as a list', ['a']],
  ].map(([what, namespace]): Case => ({
    name: `metadata.namespace ${what}`, mutate: (d) => (d.metadata.namespace = namespace), code: 'metadata.namespace', path: 'metadata.namespace', says: /DNS-1123 label/,
  })),
  { name: 'another kind', mutate: (d) => ((d.kind = 'Deployment'), (d.apiVersion = 'apps/v1')), code: 'document.kind', path: 'kind', says: /apps\/v1 Deployment/ },
  { name: 'another version of the API', mutate: (d) => (d.apiVersion = 'jobmatch.io/v1'), code: 'document.apiVersion', path: 'apiVersion', says: /v1alpha1/ },
];

export interface AcceptedCase {
  name: string;
  mutate: (doc: Doc) => void;
}

/** Valid manifests near the rules' edges: the CLI and the apiserver both accept them. */
export const acceptedCases: AcceptedCase[] = [
  { name: 'keys that only contain a secret word inside another word', mutate: (d) => Object.assign(d.spec.app.config, { LLM_MAX_TOKENS: '1', SECRETARY_EMAIL: 'a@b.c', KEYBOARD: 'fr', TOKENIZER_API_KEYS_URL: 'http://t' }) },
  { name: 'app.config overriding DEBUG and LOG_LEVEL', mutate: (d) => Object.assign(d.spec.app.config, { DEBUG: 'false', LOG_LEVEL: 'WARNING' }) },
  { name: 'a secret-looking key listed in notSecret', mutate: (d) => ((d.spec.app.config.SESSION_TOKEN_NAME = 'jm_session'), (d.spec.app.notSecret = ['SESSION_TOKEN_NAME'])) },
  { name: 'a secret whose Secret Manager id is exactly 255 characters', mutate: (d) => d.spec.secrets.push({ name: `A${'B'.repeat(237)}`, source: 'external' }) },
  {
    name: 'dotted bucket names with parts of 63 characters, up to 222',
    mutate: (d) => d.spec.buckets.push({ name: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(30)}` }, { name: 'data.jobmatch.example.com' }),
  },
  { name: 'a bucket name with "goo" and "gle" apart, and 1.2.3 digits', mutate: (d) => d.spec.buckets.push({ name: 'goo-gle-1.2.3' }) },
  { name: 'an empty label value and a label key of 63 characters', mutate: (d) => Object.assign(d.spec.buckets[0].labels, { empty: '', [`k${'-'.repeat(61)}z`]: 'v' }) },
  { name: 'removing allUsers from a dataset (ensure: absent)', mutate: (d) => d.spec.iam.push({ member: 'allUsers', role: 'roles/bigquery.dataViewer', resource: 'dataset/staging_gold', ensure: 'absent' }) },
  { name: 'one member with two roles on one resource', mutate: (d) => d.spec.iam.push({ ...d.spec.iam[0], role: 'roles/secretmanager.viewer' }) },
  { name: 'compose coordinates at the edges: a commit id, a nested file, a deep directory', mutate: (d) => Object.assign(d.spec.app.compose, { ref: 'a'.repeat(40), file: 'deploy/prod/compose.v2.yaml', directory: '/srv/apps/job-match_v2' }) },
  { name: 'a release tag and a directory under /var/lib and /home', mutate: (d) => Object.assign(d.spec.app.compose, { ref: 'release/v1.4.2', directory: '/var/lib/jobmatch' }) },
  { name: 'parity with a reference only, and a wildcard expected difference', mutate: (d) => (d.spec.parity = { reference: 'prod', expectedDifferences: [{ path: 'datasets[gold].*', reason: 'prod-only reports' }] }) },
  { name: 'no VM and no app deployment at all', mutate: (d) => { withoutVm(d); } },
  { name: 'the VM\'s service account reading the deploy key of the VM, and only that secret', mutate: (d) => { d.spec.iam = d.spec.iam.filter((b: { resource: string }) => !b.resource.startsWith('secret/') || b.resource === 'secret/deploy-key'); } },
  { name: 'no buckets, datasets, secrets, IAM or app', mutate: (d) => { for (const k of ['buckets', 'datasets', 'secrets', 'iam', 'app', 'vm']) delete d.spec[k]; } },
  { name: 'resources that export nothing', mutate: (d) => { delete d.spec.buckets[0].env; for (const ds of d.spec.datasets) delete ds.env; } },
];

export interface UpdateCase {
  name: string;
  /** An edit of the staging example, sent as an update of the object created from it. */
  mutate: (doc: Doc) => void;
  /** Refused: the field the apiserver names and a word of its message. Absent: the update is accepted. */
  refused?: { path: string; says: RegExp };
}

/**
 * Updates of an existing object: CEL transition rules (self == oldSelf), which only the apiserver can check. The
 * CLI validates a file with no "old object" to compare with, so it has no part in this table (docs/api.md says so).
 */
export const updateCases: UpdateCase[] = [
  { name: 'renaming the environment', mutate: (d) => (d.spec.environment = 'staging2'), refused: { path: 'spec.environment', says: /immutable.*create a new JobMatchEnvironment/ } },
  { name: 'moving to another project', mutate: (d) => (d.spec.gcp.projectId = 'job-match-v1'), refused: { path: 'spec.gcp.projectId', says: /immutable.*create a new JobMatchEnvironment/ } },
  { name: 'another default location', mutate: (d) => (d.spec.gcp.location = 'US') },
  { name: 'another envMode, a new bucket and a config edit', mutate: (d) => { d.spec.envMode = 'dev'; d.spec.buckets.push({ name: 'jobmatch-staging-extra' }); d.spec.app.config.POSTGRES_HOST = 'db2'; } },
  { name: 'the same environment and project written again', mutate: (d) => { d.spec.environment = `${d.spec.environment}`; d.spec.policy = { drift: 'Report' }; } },
];
