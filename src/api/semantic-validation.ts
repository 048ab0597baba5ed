/**
 * The rules of API.md beyond the shapes of the schema: GCP naming, env-var keys, secret-looking config,
 * references between fields. Runs on schema-checked documents but tolerates ill-typed parts
 * (those already have a schema error), so that every error is reported at once.
 * Every rule here about one object that CEL can state is also in the CRD (x-kubernetes-validations in
 * crd.ts), built from the same patterns, lists and texts (naming.ts, env-file.ts, secret-detection.ts, TEXT below),
 * so the apiserver refuses at `kubectl apply` what this refuses.
 */
import { DEPLOY_KEY_NAME } from './config-hash.js';
import { fieldError, joinPath, type FieldError } from './field-error.js';
import { OVERRIDABLE_KEYS, RESERVED_KEYS } from './env-file.js';
import {
  COMPOSE_DIRECTORY_RULES, COMPOSE_FILE_RULES, COMPOSE_FIX, COMPOSE_REF_RULES, brokenRule,
  ENV_VAR_PATTERN, RESERVED_LABEL_KEYS, bucketNameProblem, datasetIdProblem, iamMemberProblem, labelProblem,
  namespaceProblem, objectNameProblem, reservedLabelFix, secretId, secretIdProblem,
} from './naming.js';
import { isPublicMember } from './iam-policy.js';
import { looksSecret, secretValueShape } from './secret-detection.js';

type Path = (string | number)[];
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const items = (v: unknown): [Json, number][] =>
  Array.isArray(v) ? v.map((x, i) => [x, i] as [unknown, number]).filter((p): p is [Json, number] => isObject(p[0])) : [];
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const stringEntries = (v: unknown): [string, string][] =>
  isObject(v) ? Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string') : [];

const ENV_KEY = new RegExp(ENV_VAR_PATTERN);

/** Characters an app.config value may not hold: the .env is one line per variable. */
export const LINE_BREAK_PATTERN = '[\\r\\n\\x00]';
const LINE_BREAK = new RegExp(LINE_BREAK_PATTERN);

/** The fixed wording of rules the CRD states too (its CEL messages reuse it). */
export const TEXT = {
  bucketNameFix: 'choose a name following the Cloud Storage naming rules, e.g. jobmatch-<environment>-bronze-<project>',
  labelFix: 'follow the GCP label rules',
  secretIdFix: 'shorten the secret name or the environment name',
  externalOnly: 'applies only to source: generate; the operator never writes values of an external secret',
  envNameFix: 'use upper-case letters, digits and "_", starting with a letter',
  envExportFix: 'export this resource under another name',
  secretClashFix: 'use a different variable name',
  secretLike: 'looks like a secret; secrets never go into the .env',
  notSecretEscape: 'or list the key in spec.app.notSecret if it is not a secret',
  exportedFix: 'remove it from app.config or rename it',
  lineBreak: 'value contains a line break or NUL',
  lineBreakFix: 'use a single-line value',
  quote: 'value contains a single quote, which the .env cannot carry unambiguously',
  quoteFix: 'remove the quote',
  notSecretUnknownFix: 'remove it from spec.app.notSecret, or add the key to spec.app.config',
  undeclaredFix: 'or point the binding at a declared resource',
  vmWithoutCompose: 'spec.vm is declared but nothing says what to run on it',
  vmWithoutComposeFix: 'add spec.app.compose.ref (and file/directory if they differ from the defaults)',
  needsVmFix: 'declare spec.vm (name and zone)',
  parityReferenceSelf: 'names this environment itself; parity compares an environment with another one',
  parityReferenceFix: 'set it to the environment this one must match in shape (e.g. prod), or remove spec.parity.reference',
} as const;

/** What to set instead of a reserved .env key in app.config. */
export const RESERVED_CONFIG_FIX: Record<string, string> = { ENV_MODE: 'set spec.envMode instead', GCP_PROJECT_ID: 'set spec.gcp.projectId instead' };

class Findings {
  readonly errors: FieldError[] = [];
  add(code: string, path: Path, message: string, fix: string): void {
    this.errors.push(fieldError(code, joinPath(path), message, fix));
  }
}

/** The apiserver validates metadata itself (the CRD may not describe it): the CLI applies the same rules. */
function checkMetadata(doc: Json, f: Findings): void {
  const metadata = isObject(doc.metadata) ? doc.metadata : {};
  const { name, namespace } = metadata;
  if (name === undefined) {
    f.add('metadata.name', ['metadata', 'name'], 'required field is missing', 'add metadata.name, e.g. the environment name');
  } else {
    const problem = typeof name === 'string' ? objectNameProblem(name) : 'must be a string';
    if (problem) f.add('metadata.name', ['metadata', 'name'], `${JSON.stringify(name)} is not a valid Kubernetes object name: ${problem}`,
      'use a DNS-1123 subdomain such as the environment name, e.g. staging');
  }
  if (namespace !== undefined) {
    const problem = typeof namespace === 'string' ? namespaceProblem(namespace) : 'must be a string';
    if (problem) f.add('metadata.namespace', ['metadata', 'namespace'], `${JSON.stringify(namespace)} is not a valid Kubernetes namespace: ${problem}`,
      'use a DNS-1123 label such as jobmatch, or omit it for "default"');
  }
}

function checkLabels(labels: unknown, at: Path, f: Findings): void {
  for (const [key, value] of stringEntries(labels)) {
    const problem = labelProblem(key, value);
    if (problem) f.add('label.invalid', [...at, key], problem, TEXT.labelFix);
    if ((RESERVED_LABEL_KEYS as readonly string[]).includes(key)) {
      f.add('label.reserved', [...at, key], `the operator owns the "${key}" label`, reservedLabelFix(key));
    }
  }
}

function checkDuplicates(values: [string | undefined, Path][], what: string, f: Findings): void {
  const seen = new Map<string, Path>();
  for (const [value, at] of values) {
    if (value === undefined) continue;
    const first = seen.get(value);
    if (first) f.add('duplicate', at, `${what} "${value}" is already declared at ${joinPath(first)}`, 'declare it once');
    else seen.set(value, at);
  }
}

/** Buckets and datasets: a GCP name rule, labels, and no duplicates. */
const NAMED_RESOURCES = [
  {
    list: 'buckets', field: 'name', code: 'name.bucket', what: 'bucket name', problem: bucketNameProblem,
    fix: TEXT.bucketNameFix,
  },
  {
    list: 'datasets', field: 'datasetId', code: 'name.dataset', what: 'dataset id', problem: datasetIdProblem,
    fix: 'use letters, digits and underscores, e.g. <environment>_silver',
  },
] as const;

function checkResources(spec: Json, environment: string | undefined, f: Findings): void {
  for (const kind of NAMED_RESOURCES) {
    const entries = items(spec[kind.list]);
    for (const [entry, i] of entries) {
      const name = text(entry[kind.field]);
      const problem = name === undefined ? undefined : kind.problem(name);
      if (problem) f.add(kind.code, ['spec', kind.list, i, kind.field], `"${name}" is not a valid ${kind.what}: ${problem}`, kind.fix);
      checkLabels(entry.labels, ['spec', kind.list, i, 'labels'], f);
    }
    checkDuplicates(entries.map(([entry, i]) => [text(entry[kind.field]), ['spec', kind.list, i, kind.field]]), kind.what.split(' ')[0]!, f);
  }

  const secrets = items(spec.secrets);
  for (const [s, i] of secrets) {
    const name = text(s.name);
    if (environment !== undefined && name !== undefined && ENV_KEY.test(name)) {
      const id = secretId(environment, name);
      const problem = secretIdProblem(id);
      if (problem) f.add('name.secretId', ['spec', 'secrets', i, 'name'], `its Secret Manager id "${id.slice(0, 60)}…" ${problem}`,
        TEXT.secretIdFix);
    }
    if (s.source === 'external') {
      for (const field of ['generate', 'rotationDays']) {
        if (s[field] !== undefined) f.add('secret.external', ['spec', 'secrets', i, field],
          `${field} ${TEXT.externalOnly}`,
          `remove ${field}, or set source: generate`);
      }
    }
  }
  checkDuplicates(secrets.map(([s, i]) => [text(s.name), ['spec', 'secrets', i, 'name']]), 'secret', f);
}

function checkEnvKeys(spec: Json, f: Findings): void {
  const secretNames = new Set(items(spec.secrets).map(([s]) => text(s.name)));
  const exports: [string | undefined, Path][] = [
    ...items(spec.buckets).map(([b, i]): [string | undefined, Path] => [text(b.env), ['spec', 'buckets', i, 'env']]),
    ...items(spec.datasets).map(([d, i]): [string | undefined, Path] => [text(d.env), ['spec', 'datasets', i, 'env']]),
  ];
  checkDuplicates(exports, '.env variable', f);
  for (const [key, at] of exports) {
    if (key === undefined) continue;
    if ((RESERVED_KEYS as readonly string[]).includes(key)) {
      f.add('env.reserved', at, `${key} is set by the operator`, `${TEXT.envExportFix}; reserved: ${RESERVED_KEYS.join(', ')}`);
    }
    if (secretNames.has(key)) f.add('env.secretClash', at, `${key} is also declared as a secret`, TEXT.secretClashFix);
  }
  checkConfig(spec, new Map(exports.filter((e): e is [string, Path] => e[0] !== undefined)), secretNames, f);
}

const NOT_SECRET_ESCAPE = TEXT.notSecretEscape;

/** app.config: valid keys, none the operator owns, single-line values, and no secret by key or by value. */
function checkConfig(spec: Json, exported: Map<string, Path>, secretNames: Set<string | undefined>, f: Findings): void {
  const app = isObject(spec.app) ? spec.app : {};
  const config = isObject(app.config) ? app.config : {};
  const notSecret = new Set(checkNotSecret(app.notSecret, config, f));
  for (const [key, value] of stringEntries(config)) {
    const at: Path = ['spec', 'app', 'config', key];
    const exempt = notSecret.has(key);
    const secretKey = ENV_KEY.test(key) && (secretNames.has(key) || (looksSecret(key) && !exempt));
    if (!ENV_KEY.test(key)) {
      f.add('env.name', at, `"${key}" is not a valid variable name`, TEXT.envNameFix);
    } else if (secretKey) {
      f.add('config.secretLike', at, `${key} ${TEXT.secretLike}`,
        `declare it in spec.secrets (name: ${key}) and let the app read it from Secret Manager${secretNames.has(key) ? '' : `, ${NOT_SECRET_ESCAPE}`}`);
    } else if ((RESERVED_KEYS as readonly string[]).includes(key) && !(OVERRIDABLE_KEYS as readonly string[]).includes(key)) {
      f.add('env.reserved', at, `${key} is set by the operator`, RESERVED_CONFIG_FIX[key] ?? 'remove it from app.config');
    } else if (exported.has(key)) {
      f.add('env.duplicate', at, `${key} is already exported by ${joinPath(exported.get(key)!)}`, TEXT.exportedFix);
    }
    if (LINE_BREAK.test(value)) {
      f.add('value.newline', at, TEXT.lineBreak, TEXT.lineBreakFix);
    } else if (value.includes("'")) {
      f.add('value.quote', at, TEXT.quote, TEXT.quoteFix);
    }
    const shape = exempt || secretKey ? undefined : secretValueShape(value);
    if (shape) {
      f.add('config.secretValue', at, `the value of ${key} looks like a secret (${shape}); secrets never go into the .env`,
        `declare it in spec.secrets (the app reads it from Secret Manager), ${NOT_SECRET_ESCAPE}`);
    }
  }
}

/** The keys of spec.app.notSecret that name a config key; each other entry is an error. */
function checkNotSecret(list: unknown, config: Json, f: Findings): string[] {
  const keys = Array.isArray(list) ? list.map((k, i) => [text(k), i] as const) : [];
  for (const [key, i] of keys) {
    if (key !== undefined && !Object.hasOwn(config, key)) {
      f.add('config.notSecretUnknown', ['spec', 'app', 'notSecret', i], `"${key}" is not a key of spec.app.config`,
        TEXT.notSecretUnknownFix);
    }
  }
  checkDuplicates(keys.map(([key, i]) => [key, ['spec', 'app', 'notSecret', i]]), 'key', f);
  return keys.flatMap(([key]) => (key !== undefined && Object.hasOwn(config, key) ? [key] : []));
}

function checkIam(spec: Json, f: Findings): void {
  const declared: Record<string, Set<string | undefined>> = {
    bucket: new Set(items(spec.buckets).map(([b]) => text(b.name))),
    dataset: new Set(items(spec.datasets).map(([d]) => text(d.datasetId))),
    // The deploy key of a VM is the operator's own secret: bindings may name it (the VM's service account reads it).
    secret: new Set([...items(spec.secrets).map(([s]) => text(s.name)), ...(isObject(spec.vm) ? [DEPLOY_KEY_NAME] : [])]),
  };
  const bindings = items(spec.iam);
  for (const [b, i] of bindings) {
    const member = text(b.member);
    // A public member is the IAM policy's to refuse (iam-policy.ts), in any spelling: not "malformed".
    const problem = member === undefined || isPublicMember(member) ? undefined : iamMemberProblem(member);
    if (problem) f.add('iam.member', ['spec', 'iam', i, 'member'], `malformed member: ${problem}`, 'write the member as type:identity');
    const resource = text(b.resource);
    if (resource === undefined || resource === 'project') continue;
    const [kind, name] = resource.split('/', 2) as [string, string | undefined];
    if (declared[kind] && !declared[kind].has(name)) {
      const list = kind === 'dataset' ? 'spec.datasets' : `spec.${kind}s`;
      f.add('iam.undeclared', ['spec', 'iam', i, 'resource'], `${resource} is not declared in this manifest`,
        `declare ${kind} "${name}" in ${list}, ${TEXT.undeclaredFix}`);
    }
  }
  checkDuplicates(
    bindings.map(([b, i]) => [b.member && b.role && b.resource ? `${b.resource} ${b.role} ${b.member}` : undefined, ['spec', 'iam', i]]),
    'IAM binding', f,
  );
}

function checkDeployment(spec: Json, f: Findings): void {
  const app = isObject(spec.app) ? spec.app : {};
  if (spec.vm !== undefined && app.compose === undefined) {
    f.add('app.compose', ['spec', 'app', 'compose'], TEXT.vmWithoutCompose, TEXT.vmWithoutComposeFix);
  }
  for (const field of ['compose', 'healthCheck']) {
    if (app[field] !== undefined && spec.vm === undefined) {
      f.add('app.vm', ['spec', 'app', field], `spec.app.${field} needs a VM to deploy to`, TEXT.needsVmFix);
    }
  }
  const compose = isObject(app.compose) ? app.compose : {};
  for (const [field, rules] of [['ref', COMPOSE_REF_RULES], ['file', COMPOSE_FILE_RULES], ['directory', COMPOSE_DIRECTORY_RULES]] as const) {
    const value = text(compose[field]);
    const problem = value === undefined ? undefined : brokenRule(value, rules);
    if (problem) f.add(`compose.${field}`, ['spec', 'app', 'compose', field], `${JSON.stringify(value)} ${problem}`, COMPOSE_FIX[field]);
  }
}

function checkParity(spec: Json, environment: string | undefined, f: Findings): void {
  const parity = isObject(spec.parity) ? spec.parity : {};
  const reference = text(parity.reference);
  if (reference !== undefined && reference === environment) {
    f.add('parity.reference', ['spec', 'parity', 'reference'], `spec.parity.reference ${TEXT.parityReferenceSelf}`, TEXT.parityReferenceFix);
  }
  checkDuplicates(items(parity.expectedDifferences).map(([d, i]) => [text(d.path), ['spec', 'parity', 'expectedDifferences', i, 'path']]), 'expected difference path', f);
}

/** Every semantic error of one document, each with its field path and fix. */
export function checkSemantics(doc: unknown): FieldError[] {
  const f = new Findings();
  if (!isObject(doc)) return f.errors;
  checkMetadata(doc, f);
  if (!isObject(doc.spec)) return f.errors;
  const environment = text(doc.spec.environment);
  checkResources(doc.spec, environment, f);
  checkEnvKeys(doc.spec, f);
  checkIam(doc.spec, f);
  checkDeployment(doc.spec, f);
  checkParity(doc.spec, environment, f);
  return f.errors;
}
