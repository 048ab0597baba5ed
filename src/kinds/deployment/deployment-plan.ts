/**
 * The Deployment kind, pure half: the app's config on the environment's VM. The operator never creates,
 * labels or deletes the VM; it writes the rendered .env and the compose coordinates into the VM's metadata
 * and waits for the VM agent to acknowledge them in guest attributes (see deployment-client.ts).
 */
import type { ResolvedSpec } from '../../api/defaults.js';
import { contentHash, DEFAULT_HEALTH_TIMEOUT_SECONDS, DEPLOY_KEY_NAME, deployedValues } from '../../api/config-hash.js';
import { renderEnvFile } from '../../api/env-file.js';
import { secretId } from '../../api/naming.js';
import type { DesiredResource, PlanContext } from '../../plan/kind-planner.js';
import type { Observation } from '../../plan/observed.js';
import type { Action, FieldChange } from '../../plan/types.js';
import { ACCESS_ROLES, CONFIG_HASH_KEY, desiredMetadata, metadataProblem, rolloutOf } from './metadata.js';
import { KEY_VERSION_KEY, SIGNATURE_FORMAT, SIGNATURE_KEY } from './signing.js';

/** Named zone/instance, as Compute locates a VM. */
export interface DesiredDeployment extends DesiredResource {
  /** spec.environment: the only environment whose configuration this VM's agent accepts. */
  environment: string;
  instance: string;
  zone: string;
  project: string;
  /** sha256 over the .env and the compose ref and file (api/env-file.ts). */
  configHash: string;
  /** What the agent is asked to apply: configHash, or configHash#token to force a rollout of the same config. */
  rolloutId: string;
  /** The metadata keys the operator owns on the VM, with their values. */
  metadata: Record<string, string>;
  /** Declared secrets and the deploy key: app name and Secret Manager id. */
  secrets: { name: string; id: string }[];
  /** The Secret Manager id of the deploy key that signs the configuration. */
  deployKey: string;
  /** How long the operator waits for the agent's acknowledgement. */
  timeoutSeconds: number;
}

/** What the VM agent last wrote in guest attributes jobmatch/*. */
export interface AgentReport {
  appliedHash?: string;
  attemptedHash?: string;
  status?: string;
  message?: string;
  /** The environment the agent serves (its JOBMATCH_ENVIRONMENT): a VM of another environment is never written. */
  environment?: string;
}

export interface DeploymentObservation extends Observation {
  zone: string;
  /** RUNNING, TERMINATED, STOPPING, ... */
  status: string;
  serviceAccount?: string;
  metadata: Record<string, string>;
  agent: AgentReport;
}

export type DeploymentStep =
  /** `set` written over the keys read with `fingerprint`, then signed with the deploy key `deployKey` (a Secret Manager id). */
  | { kind: 'Deployment'; op: 'pushConfig'; instance: string; zone: string; fingerprint: string; set: Record<string, string>; deployKey: string }
  | { kind: 'Deployment'; op: 'awaitRollout'; instance: string; zone: string; rolloutId: string; timeoutSeconds: number };

/** The agent has healthCheck.timeoutSeconds for the health check after `up`; the operator waits twice that for the whole rollout (pull, up, health). */
export const ROLLOUT_WAIT_FACTOR = 2;

export function desiredDeployments(spec: ResolvedSpec): DesiredDeployment[] {
  if (!spec.vm || !spec.app?.compose) return [];
  const values = deployedValues(spec, renderEnvFile(spec));
  const hash = contentHash(values);
  const rolloutId = spec.redeploy ? `${hash}#${spec.redeploy}` : hash;
  const timeoutSeconds = spec.app.healthCheck?.timeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS;
  return [{
    name: `${spec.vm.zone}/${spec.vm.name}`, environment: spec.environment, instance: spec.vm.name, labels: {}, zone: spec.vm.zone, project: spec.gcp.projectId, configHash: hash, rolloutId,
    timeoutSeconds: timeoutSeconds * ROLLOUT_WAIT_FACTOR,
    metadata: desiredMetadata(values, rolloutId),
    secrets: [...spec.secrets.map((s) => s.name), DEPLOY_KEY_NAME].map((name) => ({ name, id: secretId(spec.environment, name) })),
    deployKey: secretId(spec.environment, DEPLOY_KEY_NAME),
  }];
}

/** KEY=value lines of a .env (comments skipped, single quotes removed): to list what a rollout changes. */
export function parseEnv(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.startsWith("'") && m[2]!.endsWith("'") && m[2]!.length >= 2 ? m[2]!.slice(1, -1) : m[2]!;
  }
  return out;
}

const COMPOSE_FIELDS: [string, string][] = [
  ['jobmatch-compose-ref', 'compose.ref'], ['jobmatch-compose-file', 'compose.file'], ['jobmatch-compose-directory', 'compose.directory'],
  ['jobmatch-health-url', 'healthCheck.url'], ['jobmatch-health-timeout', 'healthCheck.timeoutSeconds'],
];

/** The config hash before → after, then every .env variable and compose coordinate that differs (values are not secret: validation). */
function rolloutChanges(d: DesiredDeployment, o: DeploymentObservation): FieldChange[] {
  const before = rolloutOf(o.agent.appliedHash) ?? rolloutOf(o.metadata[CONFIG_HASH_KEY]) ?? null;
  const changes: FieldChange[] = [{ field: 'config', before, after: d.configHash }];
  const [oldEnv, newEnv] = [parseEnv(o.metadata['jobmatch-env']), parseEnv(d.metadata['jobmatch-env'])];
  for (const key of [...new Set([...Object.keys(oldEnv), ...Object.keys(newEnv)])].sort()) {
    if (oldEnv[key] !== newEnv[key]) changes.push({ field: `env.${key}`, before: oldEnv[key] ?? null, after: newEnv[key] ?? null });
  }
  for (const [key, field] of COMPOSE_FIELDS) {
    if (o.metadata[key] !== d.metadata[key]) changes.push({ field, before: o.metadata[key] ?? null, after: d.metadata[key] ?? null });
  }
  return changes;
}

/** A warning per declared secret the VM's service account cannot read, naming the binding to add. */
function secretAccessWarnings(d: DesiredDeployment, o: DeploymentObservation, ctx: PlanContext): string[] {
  if (d.secrets.length === 0) return [];
  if (!o.serviceAccount) return [`VM ${d.instance} runs without a service account: the apps cannot read their secrets from Secret Manager`];
  const member = `serviceAccount:${o.serviceAccount}`;
  const declared = (key: string) => ctx.bindings.some((b) => b.ensure === 'present' && b.member === member && ACCESS_ROLES.includes(b.role)
    && (key === `project/${d.project}` ? b.target.kind === 'Project' : b.target.kind === 'Secret' && `secret/${b.target.name}` === key));
  const observed = (key: string) => ctx.observed.policies[key]?.bindings.some((b) => ACCESS_ROLES.includes(b.role) && b.members.includes(member)) ?? false;
  const can = (key: string) => declared(key) || observed(key);
  if (can(`project/${d.project}`)) return [];
  return d.secrets.filter((s) => !can(`secret/${s.id}`)).map((s) =>
    `the VM's service account ${o.serviceAccount} has no roles/secretmanager.secretAccessor on ${s.id}: add to spec.iam {member: ${member}, role: roles/secretmanager.secretAccessor, resource: secret/${s.name}}`);
}

/** Why a rollout cannot start yet because of a secret, and the secret actions it must wait for. */
function secretGate(d: DesiredDeployment, ctx: PlanContext): { missing: string[]; after: string[] } {
  const missing: string[] = [];
  const after: string[] = [];
  for (const s of d.secrets) {
    const a = ctx.planned.get(`Secret/${s.id}`);
    if (!a) continue;
    if (a.pending !== undefined) missing.push(`${s.name} has no enabled version (${a.pending})`);
    else if (a.verb === 'error' || a.verb === 'conflict') missing.push(`${s.name} is in ${a.verb === 'error' ? 'error' : 'conflict'}`);
    else if (a.steps.length > 0) after.push(a.id);
  }
  return { missing, after };
}

/**
 * Why the signature on the VM must be made again, if it must: missing or malformed, or made with a deploy key
 * version that is no longer the newest enabled one (a rotation), so that a later rollout on this VM still verifies.
 */
function staleSignature(d: DesiredDeployment, o: DeploymentObservation, ctx: PlanContext): { why: string; change: FieldChange } | undefined {
  const signedWith = o.metadata[KEY_VERSION_KEY];
  if (!SIGNATURE_FORMAT.test(o.metadata[SIGNATURE_KEY] ?? '') || !signedWith) {
    return { why: 'its configuration is not signed', change: { field: 'signature', before: null, after: 'signed with the deploy key' } };
  }
  // The Secret kind's observation (newest version first); only its shape is relied on here.
  const key = ctx.observed.resources[`Secret/${d.deployKey}`] as { versions?: { number: string; state: string }[] } | undefined;
  const planned = ctx.planned.get(`Secret/${d.deployKey}`);
  const current = planned && planned.steps.length > 0 ? undefined : key?.versions?.find((v) => v.state === 'ENABLED')?.number;
  if (current === signedWith) return undefined;
  const now = current === undefined ? 'a new version' : `version ${current}`;
  return { why: `it was signed with deploy key version ${signedWith}, the key is now at ${now}`, change: { field: 'signature', before: `deploy key version ${signedWith}`, after: `deploy key ${now}` } };
}

/** A configuration on the VM that is not the one desired, which the agent refused (e.g. an unsigned one): in words, starting RolloutFailed. */
function refusedForeignConfig(d: DesiredDeployment, o: DeploymentObservation): string | undefined {
  const pushed = o.metadata[CONFIG_HASH_KEY];
  if (pushed === undefined || rolloutOf(pushed) === d.configHash || o.agent.attemptedHash !== pushed || o.agent.status !== 'failed') return undefined;
  const running = o.agent.appliedHash ? `the VM still runs ${o.agent.appliedHash}` : 'nothing was deployed';
  return `RolloutFailed: the VM agent refused ${pushed}, which the operator did not write: ${o.agent.message ?? 'no message'}; ${running}: writing the declared configuration back`;
}

const sameOwnedMetadata = (d: DesiredDeployment, o: DeploymentObservation) =>
  Object.entries(d.metadata).every(([k, v]) => (k === CONFIG_HASH_KEY ? rolloutOf(o.metadata[k]) === rolloutOf(v) : o.metadata[k] === v));

export function diffDeployment(d: DesiredDeployment, o: DeploymentObservation | undefined, ctx: PlanContext): Action {
  const base = { id: `Deployment/${d.name}`, kind: 'Deployment' as const, name: d.name, changes: [], steps: [] };
  if (!o) {
    return { ...base, verb: 'conflict', message: `VM ${d.instance} not found in ${d.project}/${d.zone}: create the VM (the operator does not create VMs), or fix spec.vm` };
  }
  if (o.agent.environment !== undefined && o.agent.environment !== d.environment) {
    return {
      ...base, verb: 'conflict',
      message: `VMOfAnotherEnvironment: VM ${d.instance} serves environment "${o.agent.environment}" (its agent's JOBMATCH_ENVIRONMENT, reported in the guest attribute jobmatch/environment), not "${d.environment}": nothing is written to it; fix spec.vm`,
    };
  }
  const warnings = secretAccessWarnings(d, o, ctx);
  const extra = warnings.length > 0 ? { warnings } : {};
  const where = { instance: d.instance, zone: d.zone };
  const awaitRollout = (rolloutId: string) => ({ kind: 'Deployment' as const, op: 'awaitRollout' as const, ...where, rolloutId, timeoutSeconds: d.timeoutSeconds });
  const pushed = o.metadata[CONFIG_HASH_KEY];
  const applied = d.rolloutId === d.configHash ? rolloutOf(o.agent.appliedHash) === d.configHash : o.agent.appliedHash === d.rolloutId;
  const refused = refusedForeignConfig(d, o);
  if (refused) {
    // Someone else wrote a configuration the agent would not deploy: say so, and write ours back (as any drift).
    const after = secretGate(d, ctx).after.filter((id) => id === `Secret/${d.deployKey}`);
    return {
      ...base, verb: 'update', ...extra, ...(after.length > 0 ? { after } : {}), changes: rolloutChanges(d, o), message: refused,
      steps: [{ kind: 'Deployment', op: 'pushConfig', ...where, fingerprint: o.version, set: d.metadata, deployKey: d.deployKey }, ...(applied ? [] : [awaitRollout(d.rolloutId)])],
    };
  }
  if (applied) {
    const stale = staleSignature(d, o, ctx);
    const same = sameOwnedMetadata(d, o);
    if (same && !stale) return { ...base, verb: 'none', ...extra };
    // The VM runs this config; only keys it does not act on drifted, or the signature (the agent ignores an unchanged hash).
    const set = Object.fromEntries(Object.entries(d.metadata).filter(([k]) => k !== CONFIG_HASH_KEY || rolloutOf(o.metadata[k]) !== d.configHash));
    const after = secretGate(d, ctx).after.filter((id) => id === `Secret/${d.deployKey}`);
    return {
      ...base, verb: 'update', ...extra, ...(after.length > 0 ? { after } : {}),
      changes: [...rolloutChanges(d, o).slice(1), ...(stale ? [stale.change] : [])],
      message: same ? `the VM already runs this config; ${stale!.why}: signed again` : 'metadata drifted; the VM already runs this config',
      steps: [{ kind: 'Deployment', op: 'pushConfig', ...where, fingerprint: o.version, set, deployKey: d.deployKey }],
    };
  }
  if (o.status !== 'RUNNING') {
    return { ...base, verb: 'pending', ...extra, changes: rolloutChanges(d, o), message: `VM ${d.instance} is ${o.status}: the rollout waits until it runs (gcloud compute instances start ${d.instance} --zone ${d.zone} --project ${d.project})` };
  }
  const forced = d.rolloutId !== d.configHash;
  if (pushed !== undefined && (forced ? pushed === d.rolloutId : rolloutOf(pushed) === d.configHash)) {
    if (o.agent.attemptedHash === pushed && o.agent.status === 'failed') {
      return {
        ...base, verb: 'error', ...extra,
        message: `the VM agent could not apply ${pushed}: ${o.agent.message ?? 'no message'}; fix it and change the config, or force a new attempt (apply --redeploy, or the annotation jobmatch.io/redeploy-at)`,
      };
    }
    return { ...base, verb: 'pending', ...extra, message: `rollout of ${pushed} in progress: waiting for the VM agent to acknowledge it`, steps: [awaitRollout(pushed)] };
  }
  const problem = metadataProblem(d.metadata, o.metadata);
  if (problem) return { ...base, verb: 'error', ...extra, message: problem };
  const gate = secretGate(d, ctx);
  if (gate.missing.length > 0) {
    return { ...base, verb: 'pending', ...extra, changes: rolloutChanges(d, o), message: `SecretsMissing: the rollout waits, the apps could not start: ${gate.missing.join('; ')}` };
  }
  return {
    ...base, verb: 'update', ...extra, changes: rolloutChanges(d, o), ...(gate.after.length > 0 ? { after: gate.after } : {}),
    ...(forced && rolloutOf(o.agent.appliedHash) === d.configHash ? { message: 'redeploy forced: the same config is rolled out again' } : {}),
    steps: [{ kind: 'Deployment', op: 'pushConfig', ...where, fingerprint: o.version, set: d.metadata, deployKey: d.deployKey }, awaitRollout(d.rolloutId)],
  };
}
