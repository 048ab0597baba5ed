/**
 * The JobMatchEnvironment CRD. Its openAPIV3Schema is the one source of truth for the shape:
 * the validator compiles it, and crds/jobmatchenvironments.jobmatch.io.yaml is generated from it.
 * It also carries every rule about one object that the apiserver can check (patterns, list-map keys,
 * CEL x-kubernetes-validations), built from the patterns, lists and wording the CLI's semantic checks use
 * (semantic-validation.ts), so `kubectl apply` refuses what the CLI refuses. What stays CLI-only: rules
 * across manifests (claims.ts) and the heuristics on config values (secret-detection.ts's secretValueShape).
 */
import { DEPLOY_KEY_NAME } from './config-hash.js';
import { OVERRIDABLE_KEYS, RESERVED_KEYS } from './env-file.js';
import { PUBLIC_MEMBER_FIX, PUBLIC_MEMBER_RE2, PUBLIC_MEMBER_TEXT } from './iam-policy.js';
import { bool, cel, celList, celString, int, list, obj, oneOf, str, stringMap, type OpenApiSchema } from './openapi.js';
import {
  ABSOLUTE_PATH_PATTERN, BUCKET_NAME_PATTERN, BUCKET_NAME_RULES, DATASET_ID_PATTERN, ENV_VAR_PATTERN, ENVIRONMENT_PATTERN,
  HTTP_URL_PATTERN, IAM_MEMBER_PATTERN, IAM_RESOURCE_PATTERN, LABEL_KEY_PATTERN, LABEL_KEY_RULE, LABEL_VALUE_PATTERN,
  LOCATION_PATTERN, NO_WHITESPACE_PATTERN, PROJECT_ID_PATTERN, RESERVED_LABEL_KEYS, ROLE_PATTERN,
  SECRET_ID_MAX_LENGTH, SECRET_ID_OVERHEAD, VM_NAME_PATTERN, ZONE_PATTERN, reservedLabelFix,
  COMPOSE_DIRECTORY_RULES, COMPOSE_FILE_RULES, COMPOSE_FIX, COMPOSE_REF_RULES, type ForbiddenPattern,
} from './naming.js';
import { SECRET_KEY_PATTERN } from './secret-detection.js';
import { LINE_BREAK_PATTERN, RESERVED_CONFIG_FIX, TEXT } from './semantic-validation.js';
import {
  CONDITION_STATUSES, CONDITION_TYPES, DELETION_POLICIES, DRIFT_POLICIES, ENV_MODES, GROUP, IAM_ENSURE, KIND, PLURAL,
  RESOURCE_KINDS, RESOURCE_STATES, SECRET_SOURCES, STORAGE_CLASSES, VERSION,
} from './types.js';

const and = (items: readonly string[]) => `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;

const envExport = (what: string) =>
  str(`Name of the .env variable that exports this ${what} to the app (e.g. GCS_BUCKET). Omit to export nothing.`, {
    pattern: ENV_VAR_PATTERN,
    maxLength: 128,
    'x-kubernetes-validations': [
      cel(`!(self in ${celList(RESERVED_KEYS)})`, `the operator sets ${and(RESERVED_KEYS)}: ${TEXT.envExportFix}`),
    ],
  });

const labels = (what: string) =>
  stringMap(
    `Extra GCP labels on the ${what}. The operator always adds jobmatch-environment and managed-by; labels added by others are left alone.`,
    'Label value: lowercase letters, digits, "_" and "-", at most 63 characters.',
    {
      maxProperties: 62,
      'x-kubernetes-validations': [
        cel(`self.all(k, k.matches(${celString(LABEL_KEY_PATTERN)}))`, `every label key ${LABEL_KEY_RULE}: ${TEXT.labelFix}`),
        ...RESERVED_LABEL_KEYS.map((key) =>
          cel(`!(${celString(key)} in self)`, `the operator owns the "${key}" label: ${reservedLabelFix(key)}`)),
      ],
    },
    { pattern: LABEL_VALUE_PATTERN },
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

/** A list of objects keyed by `keys`: the apiserver refuses two items with the same key (and server-side apply merges by it). */
const listMap = (keys: string | string[], maxItems: number) => ({
  maxItems,
  'x-kubernetes-list-type': 'map' as const,
  'x-kubernetes-list-map-keys': typeof keys === 'string' ? [keys] : keys,
});

const bucket = obj(
  'A Cloud Storage bucket of this environment. Created with uniform bucket-level access and public access prevention enforced.',
  {
    name: str('Globally unique bucket name (GCS naming rules: 3-63 characters, lowercase letters, digits, "-", "_", ".").', {
      pattern: BUCKET_NAME_PATTERN,
      maxLength: 222,
      'x-kubernetes-validations': BUCKET_NAME_RULES.map((r) =>
        cel(`!self.matches(${celString(r.forbid)})`, `${r.problem}: ${TEXT.bucketNameFix}`)),
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
  {
    'x-kubernetes-validations': ['generate', 'rotationDays'].map((field) =>
      cel(`self.source == 'generate' || !has(self.${field})`, `${field} ${TEXT.externalOnly}: remove ${field}, or set source: generate`, `.${field}`)),
  },
);

const inventoryBinding = obj('One binding, as written in spec.iam.', {
  resource: str('project, bucket/NAME, dataset/ID or secret/NAME.'),
  role: str('The role.'),
  member: str('The member.'),
}, ['resource', 'role', 'member']);

const iamBinding = obj(
  'An IAM binding the operator ensures. Additive: bindings it added are tracked; others are never removed unless ensure is absent.',
  {
    member: str('IAM member: user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN (if the operator\'s IAM policy allows it), principal://... or principalSet://... (the latter if the policy allows it). Public members (allUsers, allAuthenticatedUsers, principalSet://goog/public:all) are refused.', {
      pattern: IAM_MEMBER_PATTERN,
      maxLength: 512,
    }),
    role: str('IAM role, e.g. roles/secretmanager.secretAccessor. The operator\'s IAM policy decides which roles a manifest may grant on each kind: by default the predefined data-access roles an environment needs; basic, identity-administration and custom roles only when the policy names them.', {
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
  {
    'x-kubernetes-validations': [
      cel(`(has(self.ensure) && self.ensure == 'absent') || !self.member.matches(${celString(PUBLIC_MEMBER_RE2)})`,
        `${PUBLIC_MEMBER_TEXT} may not be granted (in any spelling or case): ${PUBLIC_MEMBER_FIX}`, '.member'),
    ],
  },
);

const reservedConfigKeys = RESERVED_KEYS.filter((k) => !(OVERRIDABLE_KEYS as readonly string[]).includes(k));

const composeRules = (rules: readonly ForbiddenPattern[], fix: string) => rules.map((r) => cel(`!self.matches(${celString(r.forbid)})`, `${r.problem}: ${fix}`));

const app = obj('The application deployed with docker-compose on the VM.', {
  config: stringMap(
    'Explicit non-secret variables written to the .env (seed option C). Keys or values that look secret are rejected: declare them in spec.secrets (or list a false positive in notSecret).',
    'Variable value: a single line, no secret.',
    {
      maxProperties: 500,
      'x-kubernetes-validations': [
        cel(`self.all(k, k.matches(${celString(ENV_VAR_PATTERN)}))`, `every key of spec.app.config must be a variable name: ${TEXT.envNameFix}`),
        ...reservedConfigKeys.map((key) =>
          cel(`!(${celString(key)} in self)`, `${key} is set by the operator: ${RESERVED_CONFIG_FIX[key]}`)),
      ],
    },
    {
      'x-kubernetes-validations': [
        cel(`!self.matches(${celString(LINE_BREAK_PATTERN)})`, `${TEXT.lineBreak}: ${TEXT.lineBreakFix}`),
        cel(`!self.contains(${celString("'")})`, `${TEXT.quote}: ${TEXT.quoteFix}`),
      ],
    },
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
        'x-kubernetes-validations': composeRules(COMPOSE_REF_RULES, COMPOSE_FIX.ref),
      }),
      file: str('Compose file, relative to directory, inside the checkout.', {
        pattern: NO_WHITESPACE_PATTERN, maxLength: 255, default: 'docker-compose.yml',
        'x-kubernetes-validations': composeRules(COMPOSE_FILE_RULES, COMPOSE_FIX.file),
      }),
      directory: str('Absolute path of the checkout on the VM (not a system directory); the .env is written there.', {
        pattern: ABSOLUTE_PATH_PATTERN,
        maxLength: 1024,
        default: '/opt/jobmatch',
        'x-kubernetes-validations': composeRules(COMPOSE_DIRECTORY_RULES, COMPOSE_FIX.directory),
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
}, [], {
  'x-kubernetes-validations': [
    cel(`!has(self.config) || self.config.all(k, !k.matches(${celString(SECRET_KEY_PATTERN)}) || (has(self.notSecret) && k in self.notSecret))`,
      `a key of spec.app.config (with a word such as PASSWORD, SECRET, TOKEN or API_KEY) ${TEXT.secretLike}: declare it in spec.secrets and let the app read it from Secret Manager, ${TEXT.notSecretEscape}`,
      '.config'),
    cel('!has(self.notSecret) || self.notSecret.all(k, has(self.config) && k in self.config)',
      `every entry of spec.app.notSecret must be a key of spec.app.config: ${TEXT.notSecretUnknownFix}`, '.notSecret'),
  ],
});

/** `body` holds for every item of the optional list spec.<list>, as `v`. */
const every = (listName: string, v: string, body: string) => `(!has(self.${listName}) || self.${listName}.all(${v}, ${body}))`;
/** Some item of the optional list spec.<list>, as `v`, satisfies `body`. */
const some = (listName: string, v: string, body: string) => `(has(self.${listName}) && self.${listName}.exists(${v}, ${body}))`;
const exportsVariable = (v: string, variable: string) => `has(${v}.env) && ${v}.env == ${variable}`;

/** The rules across fields of one spec. */
const specRules = [
  cel(`!has(self.environment) || ${every('secrets', 's', `size(self.environment) + size(s.name) <= ${SECRET_ID_MAX_LENGTH - SECRET_ID_OVERHEAD}`)}`,
    `the Secret Manager id jobmatch-<environment>-<name> of each secret must be at most ${SECRET_ID_MAX_LENGTH} characters: ${TEXT.secretIdFix}`,
    '.secrets'),
  // .env exports: each declared once (a dataset's clashing with a bucket's is reported on the dataset, as the CLI does),
  // none also a secret's name
  cel(every('buckets', 'b', `!has(b.env) || self.buckets.exists_one(x, ${exportsVariable('x', 'b.env')})`),
    'two buckets export the same .env variable (env): declare it once', '.buckets'),
  cel(every('datasets', 'd', `!has(d.env) || (self.datasets.exists_one(x, ${exportsVariable('x', 'd.env')}) && !${some('buckets', 'b', exportsVariable('b', 'd.env'))})`),
    'a dataset exports the same .env variable (env) as another dataset or a bucket: declare it once', '.datasets'),
  ...(['buckets', 'datasets'] as const).map((listName) =>
    cel(every(listName, 'r', `!has(r.env) || !${some('secrets', 's', 's.name == r.env')}`),
      `a ${listName.slice(0, -1)} exports (env) a variable also declared as a secret: ${TEXT.secretClashFix}`, `.${listName}`)),
  cel(`!has(self.app) || !has(self.app.config) || (${every('buckets', 'b', '!has(b.env) || !(b.env in self.app.config)')}`
    + ` && ${every('datasets', 'd', '!has(d.env) || !(d.env in self.app.config)')})`,
  `a key of spec.app.config is already exported by a bucket or dataset (env): ${TEXT.exportedFix}`, '.app.config'),
  cel(`!has(self.app) || !has(self.app.config) || ${every('secrets', 's', '!(s.name in self.app.config)')}`,
    'a key of spec.app.config is declared in spec.secrets; secrets never go into the .env: remove it from spec.app.config and let the app read it from Secret Manager',
    '.app.config'),
  ...([['bucket', 'buckets', 'name'], ['dataset', 'datasets', 'datasetId'], ['secret', 'secrets', 'name']] as const).map(([kind, listName, key]) =>
    // `in` a list costs its length, whatever the strings': cheaper for the cost budget than comparing each pair
    cel(every('iam', 'b', `!b.resource.startsWith('${kind}/') || (has(self.${listName}) && b.resource.substring(${kind.length + 1}) in self.${listName}.map(x, x.${key}))${
      kind === 'secret' ? ` || (b.resource == 'secret/${DEPLOY_KEY_NAME}' && has(self.vm))` : ''}`),
      `an IAM binding on ${kind}/<name> must name a ${kind} declared in spec.${listName}: declare it there, ${TEXT.undeclaredFix}`, '.iam')),
  cel('!has(self.parity) || !has(self.parity.reference) || !has(self.environment) || self.parity.reference != self.environment',
    `spec.parity.reference ${TEXT.parityReferenceSelf}: ${TEXT.parityReferenceFix}`, '.parity.reference'),
  cel('!has(self.vm) || (has(self.app) && has(self.app.compose))', `${TEXT.vmWithoutCompose}: ${TEXT.vmWithoutComposeFix}`, '.app.compose'),
  ...(['compose', 'healthCheck'] as const).map((field) =>
    cel(`has(self.vm) || !has(self.app) || !has(self.app.${field})`, `spec.app.${field} needs a VM to deploy to: ${TEXT.needsVmFix}`, `.app.${field}`)),
];

/**
 * A transition rule (the apiserver compares an update with the stored object; the CLI, validating a file, has no
 * old object). Renaming in place would plan new secrets and bindings while the buckets, still labelled for the
 * old identity, conflict: a new identity is a new object.
 */
const immutable = (field: string, why: string) =>
  cel('self == oldSelf', `${field} is immutable (${why}): create a new JobMatchEnvironment instead, and delete this one once the new one is Ready`);

const spec = obj(
  'The desired state of one JobMatch environment: its GCP resources, secrets, IAM, VM and app configuration.',
  {
    environment: str('Environment name (e.g. staging, prod). Names secrets (jobmatch-<environment>-...) and the jobmatch-environment label. Immutable: create a new JobMatchEnvironment for another one.', {
      pattern: ENVIRONMENT_PATTERN,
      maxLength: 20,
      'x-kubernetes-validations': [immutable('spec.environment', 'it names the secrets and the jobmatch-environment label of everything the operator manages')],
    }),
    envMode: oneOf(
      'ENV_MODE written to the .env: behaviour only (debug, log level), never resource names. Defaults to environment when it is local, dev, staging or prod, else dev.',
      ENV_MODES,
    ),
    gcp: obj(
      'The GCP project that holds this environment.',
      {
        projectId: str('GCP project id, exported as GCP_PROJECT_ID. Immutable: create a new JobMatchEnvironment for another project.', {
          pattern: PROJECT_ID_PATTERN,
          maxLength: 30,
          'x-kubernetes-validations': [immutable('spec.gcp.projectId', 'the environment\'s resources, bindings and inventory live in that project')],
        }),
        location: str('Default location for buckets and datasets (e.g. EU).', { pattern: LOCATION_PATTERN, maxLength: 64 }),
      },
      ['projectId', 'location'],
    ),
    buckets: list('Cloud Storage buckets of this environment.', bucket, listMap('name', 100)),
    datasets: list('BigQuery datasets of this environment.', dataset, listMap('datasetId', 100)),
    secrets: list('Secret Manager secrets of this environment (containers and IAM only; never values).', secret, listMap('name', 100)),
    iam: list('IAM bindings on the project or on resources declared above.', iamBinding, listMap(['member', 'role', 'resource'], 500)),
    vm: obj(
      'The Compute Engine VM that runs the app; the operator rolls out config through its metadata.',
      {
        name: str('Instance name.', { pattern: VM_NAME_PATTERN, maxLength: 63 }),
        zone: str('Instance zone, e.g. europe-west1-b.', { pattern: ZONE_PATTERN, maxLength: 63 }),
      },
      ['name', 'zone'],
    ),
    app,
    parity: obj(
      'Dev/prod parity: this environment is meant to have the same shape (same structure, different names) as its reference. Read by `jobmatch-operator diff-env` and by the controller\'s ParityDrift condition.',
      {
        reference: str('The environment (spec.environment) this one must match in shape, e.g. prod. Not this environment itself.', {
          pattern: ENVIRONMENT_PATTERN,
          maxLength: 20,
        }),
        expectedDifferences: list(
          'Differences that are intended (e.g. a prod-only dataset): shown as expected by diff-env, never failing it or setting ParityDrift.',
          obj(
            'One intended difference.',
            {
              path: str('The difference\'s path as diff-env prints it, e.g. buckets[bronze].versioning or envMode; "*" matches any run of characters, e.g. datasets[gold].*.', {
                pattern: NO_WHITESPACE_PATTERN,
                maxLength: 256,
              }),
              reason: str('Why this difference is intended (shown next to it).', { minLength: 1, maxLength: 1024 }),
            },
            ['path', 'reason'],
          ),
          listMap('path', 100),
        ),
      },
    ),
    policy: obj(
      'How the operator reconciles this environment.',
      {
        drift: oneOf('Heal: fix drift. Report: detect and report drift, change nothing.', DRIFT_POLICIES, { default: 'Heal' }),
        suspend: bool('true: observe nothing, change nothing.', { default: false }),
        resyncSeconds: int('Safety resync period in seconds; by default 600, or 21600 (6 h) when the controller receives drift events (run --drift-events).', { minimum: 30, maximum: 86400 }),
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
  { 'x-kubernetes-validations': specRules },
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
  conditions: list('Ready, Synced, Deployed and DriftDetected; DriftEvents with drift events; Reconciling and Stalled for GitOps tools; ParityDrift with spec.parity.reference.', condition, {
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
  inventory: obj(
    'What the controller created, adopted and granted (names only, never a value): a binding that leaves the spec is revoked, and deleting the environment applies each resource\'s deletion policy to these.',
    {
      resources: list('Resources created or adopted.', obj('One resource.', {
        kind: oneOf('Resource kind.', RESOURCE_KINDS),
        name: str('Its GCP name (bucket name, dataset id, Secret Manager id).'),
      }, ['kind', 'name'])),
      bindings: list('IAM bindings this operator granted (or adopted with spec.policy.adoptExisting): only these are ever revoked.', inventoryBinding),
      preexisting: list('Declared IAM bindings that already existed when first reconciled (someone else granted them): never revoked; reported once when they leave the spec.', inventoryBinding),
    },
    ['resources', 'bindings'],
  ),
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

/**
 * Deleting the CRD deletes every JobMatchEnvironment, and the finalizer then releases what each holds in GCP:
 * GitOps tools must never prune it (Argo CD, Flux), nor Helm delete it on uninstall.
 */
export const CRD_KEEP_ANNOTATIONS = {
  'argocd.argoproj.io/sync-options': 'Prune=false,ServerSideApply=true',
  'kustomize.toolkit.fluxcd.io/prune': 'disabled',
  'helm.sh/resource-policy': 'keep',
} as const;

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1). */
export const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}`, annotations: CRD_KEEP_ANNOTATIONS },
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
          // JSONPath has no "first condition that is not in its happy state" (a filter yields every match, and the
          // happy status is True for Ready but False for Stalled and DriftDetected): Ready's reason is that summary,
          // since Ready is False with the reason of what keeps it from being ready (SecretsMissing, Conflict, ...).
          { name: 'Reason', type: 'string', description: 'Why Ready is what it is: the reason of the Ready condition.', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
          conditionColumn('Synced'),
          conditionColumn('Deployed'),
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          { name: 'Deployed-Hash', type: 'string', priority: 1, description: 'The config hash the VM agent last acknowledged.', jsonPath: '.status.deployedConfigHash' },
        ],
        schema: { openAPIV3Schema: OPENAPI_SCHEMA },
      },
    ],
  },
} as const;
