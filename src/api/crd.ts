/**
 * The JobMatchEnvironment CRD. Its openAPIV3Schema is the one source of truth for the shape:
 * the validator compiles it, and crds/jobmatchenvironments.jobmatch.io.yaml is generated from it.
 */
import { bool, int, list, obj, oneOf, str, stringMap, type OpenApiSchema } from './openapi.js';
import {
  ABSOLUTE_PATH_PATTERN, BUCKET_NAME_PATTERN, DATASET_ID_PATTERN, ENV_VAR_PATTERN, ENVIRONMENT_PATTERN,
  HTTP_URL_PATTERN, IAM_MEMBER_PATTERN, IAM_RESOURCE_PATTERN, LOCATION_PATTERN, NO_WHITESPACE_PATTERN,
  PROJECT_ID_PATTERN, ROLE_PATTERN, VM_NAME_PATTERN, ZONE_PATTERN,
} from './naming.js';
import {
  CONDITION_STATUSES, CONDITION_TYPES, DELETION_POLICIES, DRIFT_POLICIES, ENV_MODES, GROUP, IAM_ENSURE, KIND, PLURAL,
  RESOURCE_KINDS, RESOURCE_STATES, SECRET_SOURCES, STORAGE_CLASSES, VERSION,
} from './types.js';

const envExport = (what: string) =>
  str(`Name of the .env variable that exports this ${what} to the app (e.g. GCS_BUCKET). Omit to export nothing.`, {
    pattern: ENV_VAR_PATTERN,
    maxLength: 128,
  });

const labels = (what: string) =>
  stringMap(
    `Extra GCP labels on the ${what}. The operator always adds jobmatch-environment and managed-by; labels added by others are left alone.`,
    'Label value: lowercase letters, digits, "_" and "-", at most 63 characters.',
    { maxProperties: 62 },
  );

const location = (what: string) =>
  str(`GCP location of the ${what} (e.g. EU, US, europe-west1). Defaults to spec.gcp.location. Immutable once created.`, {
    pattern: LOCATION_PATTERN,
    maxLength: 64,
  });

const deletionPolicy = (what: string) =>
  oneOf(
    `What happens to the ${what} when it is removed from the spec or the environment is deleted: Retain keeps it (reported as Orphaned), Delete removes it.`,
    DELETION_POLICIES,
    { default: 'Retain' },
  );

const bucket = obj(
  'A Cloud Storage bucket of this environment. Created with uniform bucket-level access and public access prevention enforced.',
  {
    name: str('Globally unique bucket name (GCS naming rules: 3-63 characters, lowercase letters, digits, "-", "_", ".").', {
      pattern: BUCKET_NAME_PATTERN,
      maxLength: 222,
    }),
    env: envExport('bucket name'),
    location: location('bucket'),
    storageClass: oneOf('Default storage class of the bucket.', STORAGE_CLASSES, { default: 'STANDARD' }),
    versioning: bool('Keep noncurrent object versions (object versioning).', { default: false }),
    labels: labels('bucket'),
    lifecycle: obj(
      'Object lifecycle rules managed by the operator.',
      { deleteAfterDays: int('Delete objects older than this many days.', { minimum: 1, maximum: 36500 }) },
      ['deleteAfterDays'],
    ),
    deletionPolicy: deletionPolicy('bucket'),
  },
  ['name'],
);

const dataset = obj(
  'A BigQuery dataset of this environment.',
  {
    datasetId: str('Dataset id within spec.gcp.projectId: letters, digits and underscores.', {
      pattern: DATASET_ID_PATTERN,
      maxLength: 1024,
    }),
    env: envExport('dataset id'),
    location: location('dataset'),
    description: str('Human-readable description of the dataset.', { maxLength: 16384 }),
    defaultTableExpirationDays: int('Default lifetime of new tables in days; 0 means tables never expire.', {
      minimum: 0,
      maximum: 36500,
      default: 0,
    }),
    labels: labels('dataset'),
    deletionPolicy: deletionPolicy('dataset'),
  },
  ['datasetId'],
);

const secret = obj(
  'A Secret Manager secret the apps read at runtime. The operator manages the container, its labels and IAM; values never appear in spec, status, logs or the .env.',
  {
    name: str(
      'App-facing name, as the apps pass it to get_secret() (e.g. POSTGRES_PASSWORD). The Secret Manager id is jobmatch-<environment>-<name lower-cased, "_" replaced by "-">.',
      { pattern: ENV_VAR_PATTERN, maxLength: 255 },
    ),
    source: oneOf(
      'Where values come from: generate (the operator adds a random value) or external (a person adds versions; reported Pending while none exists).',
      SECRET_SOURCES,
    ),
    generate: obj('How generated values are made (source: generate only).', {
      length: int('Length of a generated value in characters.', { minimum: 16, maximum: 4096, default: 32 }),
    }),
    rotationDays: int(
      'source: generate only. Add a fresh version when the newest enabled one is older than this many days; the previous one stays enabled.',
      { minimum: 1, maximum: 3650 },
    ),
    deletionPolicy: deletionPolicy('secret'),
  },
  ['name', 'source'],
);

const iamBinding = obj(
  'An IAM binding the operator ensures. Additive: bindings it added are tracked; others are never removed unless ensure is absent.',
  {
    member: str('IAM member: user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, allUsers or allAuthenticatedUsers.', {
      pattern: IAM_MEMBER_PATTERN,
      maxLength: 512,
    }),
    role: str('IAM role, e.g. roles/secretmanager.secretAccessor or projects/P/roles/custom.', {
      pattern: ROLE_PATTERN,
      maxLength: 256,
    }),
    resource: str(
      'Where the binding lives: project, bucket/<name>, dataset/<datasetId> or secret/<NAME>, naming a resource declared in this spec.',
      { pattern: IAM_RESOURCE_PATTERN, maxLength: 1100 },
    ),
    ensure: oneOf('present: add the binding if missing; absent: remove it if it exists.', IAM_ENSURE, { default: 'present' }),
  },
  ['member', 'role', 'resource'],
);

const app = obj('The application deployed with docker-compose on the VM.', {
  config: stringMap(
    'Explicit non-secret variables written to the .env (seed option C). Keys or values that look secret are rejected: declare them in spec.secrets (or list a false positive in notSecret).',
    'Variable value: a single line, no secret.',
    { maxProperties: 500 },
  ),
  notSecret: list(
    'Keys of spec.app.config that only look secret (by name, or by a value such as a URL with a password, a known token shape, a PEM block, a JWT or a long random string) but are not: they skip those checks. Each must be a key of spec.app.config.',
    str('A key of spec.app.config.', { pattern: ENV_VAR_PATTERN, maxLength: 256 }),
    { maxItems: 500, 'x-kubernetes-list-type': 'set' },
  ),
  compose: obj(
    'Which docker-compose project the VM agent runs.',
    {
      ref: str('Git ref (branch, tag or commit) the VM checks out before `docker compose up`.', {
        pattern: NO_WHITESPACE_PATTERN,
        maxLength: 255,
      }),
      file: str('Compose file, relative to directory.', { pattern: NO_WHITESPACE_PATTERN, maxLength: 255, default: 'docker-compose.yml' }),
      directory: str('Absolute path of the checkout on the VM; the .env is written there.', {
        pattern: ABSOLUTE_PATH_PATTERN,
        maxLength: 1024,
        default: '/opt/jobmatch',
      }),
    },
    ['ref'],
  ),
  healthCheck: obj(
    'How the VM agent decides a rollout is healthy.',
    {
      url: str('URL polled on the VM after `docker compose up`; a 2xx answer means healthy.', {
        pattern: HTTP_URL_PATTERN,
        maxLength: 2048,
      }),
      timeoutSeconds: int('How long a rollout may take before Deployed turns False (RolloutTimeout).', {
        minimum: 1,
        maximum: 3600,
        default: 180,
      }),
    },
    ['url'],
  ),
});

const spec = obj(
  'The desired state of one JobMatch environment: its GCP resources, secrets, IAM, VM and app configuration.',
  {
    environment: str('Environment name (e.g. staging, prod). Names secrets (jobmatch-<environment>-...) and the jobmatch-environment label.', {
      pattern: ENVIRONMENT_PATTERN,
      maxLength: 20,
    }),
    envMode: oneOf(
      'ENV_MODE written to the .env: behaviour only (debug, log level), never resource names. Defaults to environment when it is local, dev, staging or prod, else dev.',
      ENV_MODES,
    ),
    gcp: obj(
      'The GCP project that holds this environment.',
      {
        projectId: str('GCP project id, exported as GCP_PROJECT_ID.', { pattern: PROJECT_ID_PATTERN, maxLength: 30 }),
        location: str('Default location for buckets and datasets (e.g. EU).', { pattern: LOCATION_PATTERN, maxLength: 64 }),
      },
      ['projectId', 'location'],
    ),
    buckets: list('Cloud Storage buckets of this environment.', bucket, { maxItems: 100 }),
    datasets: list('BigQuery datasets of this environment.', dataset, { maxItems: 100 }),
    secrets: list('Secret Manager secrets of this environment (containers and IAM only; never values).', secret, { maxItems: 100 }),
    iam: list('IAM bindings on the project or on resources declared above.', iamBinding, { maxItems: 500 }),
    vm: obj(
      'The Compute Engine VM that runs the app; the operator rolls out config through its metadata.',
      {
        name: str('Instance name.', { pattern: VM_NAME_PATTERN, maxLength: 63 }),
        zone: str('Instance zone, e.g. europe-west1-b.', { pattern: ZONE_PATTERN, maxLength: 63 }),
      },
      ['name', 'zone'],
    ),
    app,
    policy: obj(
      'How the operator reconciles this environment.',
      {
        drift: oneOf('Heal: fix drift. Report: detect and report drift, change nothing.', DRIFT_POLICIES, { default: 'Heal' }),
        suspend: bool('true: observe nothing, change nothing.', { default: false }),
        resyncSeconds: int('Safety resync period in seconds.', { minimum: 30, maximum: 86400, default: 600 }),
        adoptExisting: bool(
          'true: an existing resource of this project that carries no jobmatch labels is adopted (labels added, logged adopt), like an import; false (default): it is a Conflict. A resource labelled for another environment is never adopted.',
          { default: false },
        ),
      },
      [],
      { default: {} },
    ),
  },
  ['environment', 'gcp'],
);

const condition = obj(
  'A standard Kubernetes condition.',
  {
    type: oneOf('Condition type.', CONDITION_TYPES),
    status: oneOf('True, False or Unknown.', CONDITION_STATUSES),
    reason: str('CamelCase reason for the last transition.', { maxLength: 1024 }),
    message: str('Human-readable detail.', { maxLength: 32768 }),
    lastTransitionTime: str('When the status last changed.', { format: 'date-time' }),
    observedGeneration: int('The spec generation this condition was computed from.', { minimum: 0 }),
  },
  ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
);

const status = obj('What the operator last observed and did.', {
  observedGeneration: int('The spec generation last reconciled.', { minimum: 0 }),
  conditions: list('Ready, Synced, Deployed and DriftDetected.', condition, {
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
  resources: list(
    'State of every managed resource.',
    obj(
      'One managed resource.',
      {
        kind: oneOf('Resource kind.', RESOURCE_KINDS),
        name: str('Resource name (bucket name, dataset id, secret id, binding or VM).'),
        state: oneOf('Last reconcile outcome for this resource.', RESOURCE_STATES),
        message: str('Detail, e.g. the drifted fields or the command to run.'),
      },
      ['kind', 'name', 'state'],
    ),
  ),
  exports: stringMap('The resolved .env resource variables (like Terraform outputs).', 'Exported value.'),
  configHash: str('sha256 over the rendered .env and the compose ref and file.'),
  deployedConfigHash: str('The configHash the VM agent last acknowledged.'),
  lastReconcileTime: str('When the last reconcile finished.', { format: 'date-time' }),
  lastDriftTime: str('When drift was last detected.', { format: 'date-time' }),
});

/** The openAPIV3Schema of JobMatchEnvironment v1alpha1. */
export const OPENAPI_SCHEMA: OpenApiSchema = obj(
  'JobMatchEnvironment keeps one JobMatch environment (buckets, datasets, secrets, IAM, VM and app config) exactly as declared.',
  {
    apiVersion: str('APIVersion defines the versioned schema of this object: jobmatch.io/v1alpha1.'),
    kind: str('Kind is JobMatchEnvironment.'),
    // The apiserver forbids anything but type here (even a description): metadata is validated by Kubernetes itself.
    metadata: { type: 'object' },
    spec,
    status,
  },
  ['spec'],
);

const conditionColumn = (type: string) => ({
  name: type,
  type: 'string',
  description: `Status of the ${type} condition.`,
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
});

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: {
      kind: KIND,
      listKind: `${KIND}List`,
      plural: PLURAL,
      singular: 'jobmatchenvironment',
      shortNames: ['jme'],
      categories: ['jobmatch'],
    },
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Environment', type: 'string', description: 'Environment name.', jsonPath: '.spec.environment' },
          { name: 'Project', type: 'string', description: 'GCP project.', jsonPath: '.spec.gcp.projectId' },
          conditionColumn('Ready'),
          conditionColumn('Synced'),
          conditionColumn('Deployed'),
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: { openAPIV3Schema: OPENAPI_SCHEMA },
      },
    ],
  },
} as const;
