/**
 * Dev/prod parity (`diff-env`, the controller's ParityDrift): two environments' shapes compared after their
 * names are normalised by the naming convention, "same structure, different names". Pure, like the rest of
 * plan/: it compares two desired states (or two states rebuilt from what GCP holds) and reads nothing else.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { behaviourDefaults, OVERRIDABLE_KEYS } from '../api/env-file.js';
import { looksSecret, secretValueShape } from '../api/secret-detection.js';
import type { ExpectedDifference } from '../api/types.js';

/** The groups differences are listed in, in this order. */
export const PARITY_GROUPS = ['gcp', 'behaviour', 'buckets', 'datasets', 'secrets', 'iam', 'config', 'vm', 'deployment'] as const;
export type ParityGroup = (typeof PARITY_GROUPS)[number];

/** A compared value: null when the side does not have it (not declared, or not found in GCP). */
export type ParityValue = string | number | boolean | null;

/** Shown instead of a config value that looks like a secret (by key or by value): never the value itself. */
export const HIDDEN_VALUE = '[hidden: secret-looking]';

export interface ParityDifference {
  group: ParityGroup;
  /** Where, by normalised name: buckets[bronze].versioning, app.config.LLM_MODEL, iam[bucket/bronze][serviceAccount:jobmatch-vm@<project>.iam.gserviceaccount.com]. */
  path: string;
  a: ParityValue;
  b: ParityValue;
  /** Set when spec.parity.expectedDifferences of either side covers the path. */
  expected?: { reason: string; declaredBy: string };
}

export interface ParityReport {
  a: string;
  b: string;
  differences: ParityDifference[];
  summary: { differences: number; expected: number; unexpected: number };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A name without the environment's own segment: the environment as a prefix, suffix or infix between "-", "_" or
 * "." (jobmatch-staging-bronze → jobmatch-bronze, staging_silver → silver, jobmatch-prod-vm → jobmatch-vm).
 */
export function withoutEnvironment(name: string, environment: string): string {
  const segment = new RegExp(`(^|[-_.])${escapeRegExp(environment)}([-_.]|$)`);
  return name.replace(segment, (_m, before: string, after: string) => (before && after ? before : ''));
}

/**
 * A bucket's key: its name without the environment, the "jobmatch" prefix and the project id suffix of the
 * convention jobmatch-<environment>-<what>-<project> (jobmatch-staging-bronze-job-match-v0 → bronze).
 */
export function bucketKey(name: string, environment: string, projectId: string): string {
  const key = withoutEnvironment(name, environment).replace(/^jobmatch[-_.]/, '').replace(new RegExp(`[-_.]${escapeRegExp(projectId)}$`), '');
  return key === '' ? withoutEnvironment(name, environment) : key;
}

/** An IAM member without the environment in its account name and with the project replaced by <project>. */
export function normaliseMember(member: string, environment: string, projectId: string): string {
  const match = /^([A-Za-z]+):([^@]+)@(.+)$/.exec(member);
  if (!match) return member;
  const [, type, local, domain] = match as unknown as [string, string, string, string];
  const project = new RegExp(`(^|\\.)${escapeRegExp(projectId)}(\\.|$)`);
  return `${type}:${withoutEnvironment(local, environment)}@${domain.replace(project, (_m, b: string, a: string) => `${b}<project>${a}`)}`;
}

/** One environment's shape: every compared value by path (paths already normalised). */
export type ParityShape = Map<string, { group: ParityGroup; value: ParityValue }>;

/** An environment's shape from its (resolved) spec: what diff-env compares. */
export function shapeOf(spec: ResolvedSpec): ParityShape {
  const shape: ParityShape = new Map();
  const env = spec.environment;
  const project = spec.gcp.projectId;
  const put = (group: ParityGroup, path: string, value: ParityValue | undefined) => shape.set(path, { group, value: value ?? null });
  const labels = (group: ParityGroup, at: string, l: Record<string, string>) => {
    for (const [k, v] of Object.entries(l)) put(group, `${at}.labels.${k}`, v);
  };

  put('gcp', 'gcp.location', spec.gcp.location.toUpperCase());

  const config = spec.appConfig;
  put('behaviour', 'behaviour.ENV_MODE', spec.envMode);
  const defaults = behaviourDefaults(spec.envMode);
  for (const key of OVERRIDABLE_KEYS) put('behaviour', `behaviour.${key}`, config[key] ?? defaults[key]);

  const buckets = new Map(spec.buckets.map((b) => [b.name, bucketKey(b.name, env, project)]));
  for (const b of spec.buckets) {
    const at = `buckets[${buckets.get(b.name)}]`;
    put('buckets', at, 'declared');
    put('buckets', `${at}.location`, b.location.toUpperCase());
    put('buckets', `${at}.storageClass`, b.storageClass);
    put('buckets', `${at}.versioning`, b.versioning);
    put('buckets', `${at}.lifecycle.deleteAfterDays`, b.lifecycle?.deleteAfterDays);
    put('buckets', `${at}.deletionPolicy`, b.deletionPolicy);
    put('buckets', `${at}.env`, b.env);
    labels('buckets', at, b.labels);
  }
  const datasets = new Map(spec.datasets.map((d) => [d.datasetId, withoutEnvironment(d.datasetId, env)]));
  for (const d of spec.datasets) {
    const at = `datasets[${datasets.get(d.datasetId)}]`;
    put('datasets', at, 'declared');
    put('datasets', `${at}.location`, d.location.toUpperCase());
    put('datasets', `${at}.defaultTableExpirationDays`, d.defaultTableExpirationDays);
    put('datasets', `${at}.deletionPolicy`, d.deletionPolicy);
    put('datasets', `${at}.env`, d.env);
    labels('datasets', at, d.labels);
  }
  for (const s of spec.secrets) {
    const at = `secrets[${s.name}]`;
    put('secrets', at, 'declared');
    put('secrets', `${at}.source`, s.source);
    put('secrets', `${at}.generate.length`, s.generate?.length);
    put('secrets', `${at}.rotationDays`, s.rotationDays);
    put('secrets', `${at}.deletionPolicy`, s.deletionPolicy);
  }

  const resource = (r: string): string => {
    const [kind, ...rest] = r.split('/');
    const name = rest.join('/');
    if (kind === 'bucket') return `bucket/${buckets.get(name) ?? bucketKey(name, env, project)}`;
    if (kind === 'dataset') return `dataset/${datasets.get(name) ?? withoutEnvironment(name, env)}`;
    return r;
  };
  const roles = new Map<string, string[]>();
  for (const i of spec.iam) {
    const at = `iam[${resource(i.resource)}][${normaliseMember(i.member, env, project)}]`;
    roles.set(at, [...(roles.get(at) ?? []), i.ensure === 'absent' ? `-${i.role}` : i.role]);
  }
  for (const [at, list] of roles) put('iam', at, [...list].sort().join(', '));

  const notSecret = new Set(spec.app?.notSecret ?? []);
  for (const [key, value] of Object.entries(config)) {
    if ((OVERRIDABLE_KEYS as readonly string[]).includes(key)) continue;
    const hidden = (!notSecret.has(key) && looksSecret(key)) || secretValueShape(value) !== undefined;
    put('config', `app.config.${key}`, hidden ? HIDDEN_VALUE : value);
  }

  if (spec.vm) {
    put('vm', 'vm', 'declared');
    put('vm', 'vm.name', withoutEnvironment(spec.vm.name, env));
    put('vm', 'vm.zone', spec.vm.zone);
  }
  const compose = spec.app?.compose;
  if (compose) {
    put('deployment', 'app.compose.ref', compose.ref);
    put('deployment', 'app.compose.file', compose.file);
    put('deployment', 'app.compose.directory', compose.directory);
  }
  const health = spec.app?.healthCheck;
  if (health) {
    put('deployment', 'app.healthCheck.url', health.url);
    put('deployment', 'app.healthCheck.timeoutSeconds', health.timeoutSeconds);
  }
  return shape;
}

/**
 * Whether an expected difference's path covers `path`: "*" matches any run of characters, and a path also
 * covers everything under it (datasets[gold] covers datasets[gold].location).
 */
export function pathMatches(pattern: string, path: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}([.[].*)?$`);
  return re.test(path);
}

function differs(a: ParityValue, b: ParityValue, path: string): boolean {
  // A hidden value is compared by presence only: two secret-looking values are never shown, nor told apart.
  if (path.startsWith('app.config.') && a === HIDDEN_VALUE && b === HIDDEN_VALUE) return false;
  return a !== b;
}

/** Every difference between two environments' shapes, grouped and in a stable order, expected ones marked. */
export function compareEnvironments(a: ResolvedSpec, b: ResolvedSpec): ParityReport {
  const shapeA = shapeOf(a);
  const shapeB = shapeOf(b);
  const expectations: (ExpectedDifference & { declaredBy: string })[] = [a, b].flatMap((side) =>
    (side.parity?.expectedDifferences ?? []).map((e) => ({ ...e, declaredBy: side.environment })));
  const differences: ParityDifference[] = [];
  for (const path of new Set([...shapeA.keys(), ...shapeB.keys()])) {
    const x = shapeA.get(path);
    const y = shapeB.get(path);
    const av = x?.value ?? null;
    const bv = y?.value ?? null;
    if (!differs(av, bv, path)) continue;
    // Under a resource one side lacks, its fields say nothing more than the resource's own line.
    const parent = /^(buckets|datasets|secrets)\[[^\]]*\]/.exec(path)?.[0] ?? (path.startsWith('vm.') ? 'vm' : undefined);
    if (parent && parent !== path && (!shapeA.has(parent) || !shapeB.has(parent))) continue;
    const match = expectations.find((e) => pathMatches(e.path, path));
    differences.push({
      group: (x ?? y)!.group, path, a: av, b: bv,
      ...(match ? { expected: { reason: match.reason, declaredBy: match.declaredBy } } : {}),
    });
  }
  differences.sort((p, q) => PARITY_GROUPS.indexOf(p.group) - PARITY_GROUPS.indexOf(q.group) || (p.path < q.path ? -1 : p.path > q.path ? 1 : 0));
  const expected = differences.filter((d) => d.expected).length;
  return {
    a: a.environment,
    b: b.environment,
    differences,
    summary: { differences: differences.length, expected, unexpected: differences.length - expected },
  };
}
