/**
 * `import`'s pure half: what GCP holds for an environment (existing.ts) turned into a draft JobMatchEnvironment,
 * as YAML with a comment on everything a person must review: which rule found each resource, what was left out
 * and why. Same input, same text: no clock, no I/O.
 */
import { Document, isMap, isSeq, type YAMLMap } from 'yaml';
import { DEFAULT_COMPOSE_DIRECTORY, DEFAULT_COMPOSE_FILE, DEPLOY_KEY_NAME, ENV_KEY } from '../api/config-hash.js';
import { defaultEnvMode } from '../api/defaults.js';
import { behaviourDefaults } from '../api/env-file.js';
import { iamMemberProblem, DELETION_POLICY_LABEL, ENV_VAR_PATTERN, RESERVED_LABEL_KEYS, secretId } from '../api/naming.js';
import { policyRefusal, type IamPolicy, type PolicyKind } from '../api/iam-policy.js';
import { looksSecret, secretValueShape } from '../api/secret-detection.js';
import { API_VERSION, ENV_MODES, KIND, type BucketSpec, type DatasetSpec, type EnvMode, type IamBindingSpec, type JobMatchEnvironment, type SecretSpec } from '../api/types.js';
import { fromAccessEntry } from '../kinds/dataset/access.js';
import type { PolicyObservation } from '../plan/observed.js';
import type { ExistingEnvironment, FoundBy } from './existing.js';

const DAY_MS = 86_400_000;

export interface DraftOptions {
  /** metadata.namespace of the draft. */
  namespace: string;
  /** spec.gcp.location; default: the location most buckets and datasets found are in. */
  location?: string;
  iamPolicy: IamPolicy;
}

export interface Draft {
  manifest: JobMatchEnvironment;
  /** The manifest as YAML, with the review comments. */
  yaml: string;
  /** Why a draft could not be made (then `yaml` is empty). */
  problem?: string;
}

const FOUND_BY: Record<FoundBy, (env: string) => string> = {
  label: (env) => `found by its label jobmatch-environment: ${env}`,
  name: () => 'found by its name (the naming convention), unlabelled: plan shows it adopted',
  flag: () => 'named on the command line, unlabelled: plan shows it adopted',
};

/** Labels a manifest declares: what the resource carries minus the operator's own. */
const userLabels = (labels: Record<string, string>) =>
  Object.fromEntries(Object.entries(labels).filter(([k]) => !(RESERVED_LABEL_KEYS as readonly string[]).includes(k)).sort(([a], [b]) => a.localeCompare(b)));

const deletionPolicyOf = (labels: Record<string, string>) => (labels[DELETION_POLICY_LABEL] === 'delete' ? 'Delete' : 'Retain');

/** The .env the operator wrote into the VM's metadata, in its sections (api/env-file.ts renders it). */
interface EnvSections {
  header: string;
  behaviour: Record<string, string>;
  resources: Record<string, string>;
  config: Record<string, string>;
  /** `# NAME -> id` lines, in the manifest's order. */
  secrets: { name: string; id: string }[];
}

const unquote = (v: string) => (v.length >= 2 && v.startsWith("'") && v.endsWith("'") ? v.slice(1, -1) : v);

function parseEnvSections(text: string): EnvSections {
  const out: EnvSections = { header: '', behaviour: {}, resources: {}, config: {}, secrets: [] };
  let section: 'behaviour' | 'resources' | 'config' | 'secrets' | undefined;
  for (const line of text.split('\n')) {
    if (!out.header && line.startsWith('# ')) out.header = line;
    const title = /^# --- (.*) ---$/.exec(line)?.[1];
    if (title !== undefined) {
      section = title.startsWith('Behaviour') ? 'behaviour' : title.startsWith('GCP resources') ? 'resources' : title.startsWith('App config') ? 'config' : title.startsWith('Secrets') ? 'secrets' : undefined;
      continue;
    }
    if (section === 'secrets') {
      const m = /^# (\S+) -> (\S+)$/.exec(line);
      if (m) out.secrets.push({ name: m[1]!, id: m[2]! });
      continue;
    }
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m && section) out[section][m[1]!] = unquote(m[2]!);
  }
  return out;
}

/** The app-facing secret name whose id is `id` (jobmatch-<env>-<name>), or undefined when the id does not follow the convention. */
export function secretNameOf(environment: string, id: string): string | undefined {
  const prefix = `jobmatch-${environment}-`;
  if (!id.startsWith(prefix)) return undefined;
  const name = id.slice(prefix.length).toUpperCase().replaceAll('-', '_');
  return new RegExp(ENV_VAR_PATTERN).test(name) && secretId(environment, name) === id ? name : undefined;
}

function mostCommon(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
}

/** A draft manifest of what exists; `leftOut` lines end up as comments at the end of the document. */
export function draftManifest(existing: ExistingEnvironment, options: DraftOptions): Draft {
  const env = existing.environment;
  const leftOut: string[] = [];
  const itemComments = new Map<string, string>();
  const locations = [...existing.buckets.map((b) => b.observation.location), ...existing.datasets.map((d) => d.observation.location.toUpperCase())].filter((l) => l);
  const location = options.location ?? mostCommon(locations);
  const empty = { manifest: undefined as unknown as JobMatchEnvironment, yaml: '' };
  if (!location) return { ...empty, problem: `nothing found for environment ${env} in project ${existing.project} to take a location from: pass --location` };

  // The VM's .env (and compose coordinates), when the operator deployed to it.
  const vm = existing.vm;
  const metadata = vm?.observation?.metadata ?? {};
  const envText = metadata[ENV_KEY];
  const dotenv = envText !== undefined ? parseEnvSections(envText) : undefined;
  const vmCarriesThisEnvironment = dotenv !== undefined && dotenv.header.includes(`environment "${env}"`) && metadata['jobmatch-compose-ref'];
  if (vm && !vm.observation) leftOut.push(`VM ${vm.zone}/${vm.name}: not found (pass --vm NAME --zone ZONE for another one); spec.vm and spec.app are left out`);
  else if (vm && !vmCarriesThisEnvironment) leftOut.push(`VM ${vm.zone}/${vm.name}: it carries no jobmatch-env metadata the operator wrote for environment ${env}; spec.vm and spec.app are left out (write them, then plan shows the first rollout)`);
  else if (!vm && !existing.errors.some((e) => e.startsWith('VM '))) leftOut.push('no VM read (pass --zone, and --vm if it is not jobmatch-<environment>-vm): spec.vm and spec.app are left out');
  const deployed = vm && vmCarriesThisEnvironment ? dotenv : undefined;
  const exported = new Map(Object.entries(deployed?.resources ?? {}).filter(([k]) => k !== 'GCP_PROJECT_ID').map(([k, v]) => [v, k]));
  const used = new Set<string>();
  const exportOf = (name: string) => {
    const key = exported.get(name);
    if (key) used.add(key);
    return key ? { env: key } : {};
  };

  const iam: IamBindingSpec[] = [];
  const members = new Set<string>();
  const takeBindings = (policy: PolicyObservation | undefined, kind: PolicyKind, resource: string, where: string) => {
    for (const b of policy?.bindings ?? []) {
      for (const member of b.members) {
        if (b.condition) leftOut.push(`IAM ${where}: ${b.role} for ${member}: a conditional binding, which a manifest cannot express`);
        else if (iamMemberProblem(member)) leftOut.push(`IAM ${where}: ${b.role} for ${member}: not a member a manifest can name (${kind === 'bucket' ? 'a legacy convenience binding' : 'a special group'})`);
        else {
          const refusal = policyRefusal({ member, role: b.role, ensure: 'present' }, kind, options.iamPolicy);
          if (refusal) leftOut.push(`IAM ${where}: ${b.role} for ${member}: the operator's IAM policy would refuse it (${refusal.code})`);
          else {
            iam.push({ member, role: b.role, resource });
            members.add(member);
          }
        }
      }
    }
  };

  const buckets: BucketSpec[] = existing.buckets.map((f, i) => {
    const o = f.observation;
    itemComments.set(`buckets.${i}`, FOUND_BY[f.foundBy](env));
    if (o.lifecycleRuleCount > (o.lifecycleDeleteAfterDays !== undefined ? 1 : 0)) {
      leftOut.push(`Bucket ${o.name}: lifecycle rules other than one Delete after N days: a manifest cannot express them, and apply would replace them: review`);
    }
    takeBindings(f.policy, 'bucket', `bucket/${o.name}`, `bucket ${o.name}`);
    return {
      name: o.name, ...exportOf(o.name), ...(o.location !== location.toUpperCase() ? { location: o.location } : {}),
      storageClass: o.storageClass as BucketSpec['storageClass'], versioning: o.versioning, labels: userLabels(o.labels),
      ...(o.lifecycleDeleteAfterDays !== undefined ? { lifecycle: { deleteAfterDays: o.lifecycleDeleteAfterDays } } : {}),
      deletionPolicy: deletionPolicyOf(o.labels),
    };
  });

  const datasets: DatasetSpec[] = existing.datasets.map((f, i) => {
    const o = f.observation;
    itemComments.set(`datasets.${i}`, FOUND_BY[f.foundBy](env));
    const ms = o.defaultTableExpirationMs;
    let expiration = {};
    if (ms !== undefined && ms > 0) {
      if (ms % DAY_MS === 0) expiration = { defaultTableExpirationDays: ms / DAY_MS };
      else leftOut.push(`Dataset ${o.datasetId}: default table expiration ${ms} ms is not a whole number of days: set defaultTableExpirationDays yourself`);
    }
    for (const entry of o.rawAccess) {
      const b = fromAccessEntry(entry);
      if (!b) leftOut.push(`IAM dataset ${o.datasetId}: access entry ${JSON.stringify(entry)}: not an IAM grant (a view, routine or project group), kept as it is`);
    }
    takeBindings({ etag: '', bindings: o.access.map((a) => ({ role: a.role, members: [a.member] })) }, 'dataset', `dataset/${o.datasetId}`, `dataset ${o.datasetId}`);
    return {
      datasetId: o.datasetId, ...exportOf(o.datasetId), ...(o.location.toUpperCase() !== location.toUpperCase() ? { location: o.location } : {}),
      ...(o.description ? { description: o.description } : {}), ...expiration, labels: userLabels(o.labels), deletionPolicy: deletionPolicyOf(o.labels),
    };
  });

  // Secrets: in the order the VM's .env names them (its comments are part of the config hash), then the others.
  const byId = new Map(existing.secrets.map((f) => [f.name, f]));
  const ordered = [...(deployed?.secrets ?? []).map((s) => s.id).filter((id) => id !== secretId(env, DEPLOY_KEY_NAME)), ...existing.secrets.map((f) => f.name)]
    .filter((id, i, all) => all.indexOf(id) === i);
  const secrets: SecretSpec[] = [];
  for (const id of ordered) {
    const f = byId.get(id);
    const name = deployed?.secrets.find((s) => s.id === id)?.name ?? secretNameOf(env, id);
    if (!name) {
      leftOut.push(`Secret ${id}: its id does not follow jobmatch-${env}-<name> (lower case, "-" for "_"): the apps could not find it by name`);
      continue;
    }
    const how = f ? FOUND_BY[f.foundBy](env) : 'named in the VM\'s .env but not found in Secret Manager: plan shows it created, empty';
    itemComments.set(`secrets.${secrets.length}`, `${how}. source: external because import never reads a value and cannot tell; if the operator generated it, make it source: generate (and rotationDays)`);
    if (f) takeBindings(f.policy, 'secret', `secret/${name}`, `secret ${id}`);
    secrets.push({ name, source: 'external', deletionPolicy: deletionPolicyOf(f?.observation.labels ?? {}) });
  }

  // The VM and its app config.
  let envMode: EnvMode | undefined;
  let vmSpec: JobMatchEnvironment['spec']['vm'];
  let app: JobMatchEnvironment['spec']['app'];
  if (deployed && vm) {
    const mode = deployed.behaviour.ENV_MODE;
    if (mode && (ENV_MODES as readonly string[]).includes(mode)) envMode = mode as EnvMode;
    const defaults = behaviourDefaults(envMode ?? defaultEnvMode(env));
    const config: Record<string, string> = {};
    for (const key of ['DEBUG', 'LOG_LEVEL'] as const) if (deployed.behaviour[key] !== undefined && deployed.behaviour[key] !== defaults[key]) config[key] = deployed.behaviour[key];
    for (const [key, value] of Object.entries(deployed.config)) {
      const shape = looksSecret(key) ? 'its name' : secretValueShape(value) ? `its value (${secretValueShape(value)})` : undefined;
      if (shape) leftOut.push(`app.config ${key}: looks secret by ${shape}: not imported; declare it in spec.secrets and add its value in Secret Manager`);
      else config[key] = value;
    }
    for (const [key, value] of Object.entries(deployed.resources)) {
      if (key === 'GCP_PROJECT_ID' ? value !== existing.project : !used.has(key)) {
        leftOut.push(`.env ${key}=${value}: ${key === 'GCP_PROJECT_ID' ? 'another project' : 'exports a bucket or dataset import did not find'} (the .env changes when this draft is applied)`);
      }
    }
    vmSpec = { name: vm.name, zone: vm.zone };
    const timeout = Number(metadata['jobmatch-health-timeout']);
    app = {
      config: Object.fromEntries(Object.entries(config).sort(([a], [b]) => a.localeCompare(b))),
      compose: {
        ref: metadata['jobmatch-compose-ref']!,
        file: metadata['jobmatch-compose-file'] || DEFAULT_COMPOSE_FILE,
        directory: metadata['jobmatch-compose-directory'] || DEFAULT_COMPOSE_DIRECTORY,
      },
      ...(metadata['jobmatch-health-url'] ? { healthCheck: { url: metadata['jobmatch-health-url'], ...(Number.isInteger(timeout) && timeout > 0 ? { timeoutSeconds: timeout } : {}) } } : {}),
    };
    takeBindings(existing.deployKeyPolicy, 'secret', `secret/${DEPLOY_KEY_NAME}`, `secret ${secretId(env, DEPLOY_KEY_NAME)}`);
    if (vm.observation?.serviceAccount) members.add(`serviceAccount:${vm.observation.serviceAccount}`);
  } else if (existing.deployKeyPolicy) {
    leftOut.push(`Secret ${secretId(env, DEPLOY_KEY_NAME)}: the VM deploy key, implied by spec.vm: left out with the VM`);
  }
  // Project-level grants only for the members the environment's own resources (or its VM) name: the project has many others.
  const projectStart = iam.length;
  for (const b of existing.projectPolicy?.bindings ?? []) {
    const ours = b.members.filter((m) => members.has(m));
    if (ours.length > 0) takeBindings({ etag: '', bindings: [{ ...b, members: ours }] }, 'project', 'project', 'project');
  }
  iam.splice(projectStart, iam.length - projectStart, ...iam.slice(projectStart).sort((a, b) => `${a.role} ${a.member}`.localeCompare(`${b.role} ${b.member}`)));

  for (const o of existing.otherEnvironments) leftOut.push(`${o.kind} ${o.name}: matches the naming convention but is labelled for environment ${o.environment}: never taken`);
  for (const e of existing.errors) leftOut.push(`could not read ${e}`);

  const manifest: JobMatchEnvironment = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: env, namespace: options.namespace },
    spec: {
      environment: env,
      ...(envMode ? { envMode } : {}),
      gcp: { projectId: existing.project, location },
      ...(buckets.length > 0 ? { buckets } : {}),
      ...(datasets.length > 0 ? { datasets } : {}),
      ...(secrets.length > 0 ? { secrets } : {}),
      ...(iam.length > 0 ? { iam } : {}),
      ...(vmSpec ? { vm: vmSpec } : {}),
      ...(app ? { app } : {}),
      policy: { adoptExisting: true },
    },
  };
  return { manifest, yaml: render(manifest, itemComments, leftOut) };
}

function render(manifest: JobMatchEnvironment, itemComments: Map<string, string>, leftOut: string[]): string {
  const doc = new Document(manifest);
  doc.commentBefore = [
    ` DRAFT made by jobmatch-operator import from what project ${manifest.spec.gcp.projectId} holds for environment ${manifest.spec.environment}.`,
    ' Review it before use: names, deletionPolicy (Retain keeps a resource when it leaves the spec), IAM, secrets\' source.',
    ' adoptExisting: true lets the operator adopt the unlabelled resources below; `plan -f` shows exactly what is adopted and changed.',
    ' Nothing was written to GCP and no secret value was read.',
  ].join('\n');
  const spec = doc.get('spec', true) as YAMLMap;
  for (const [path, comment] of itemComments) {
    const [section, index] = path.split('.') as [string, string];
    const seq = spec.get(section, true);
    const item = isSeq(seq) ? seq.items[Number(index)] : undefined;
    if (isMap(item)) item.commentBefore = ` ${comment}`;
  }
  const policy = spec.get('policy', true);
  if (isMap(policy)) policy.commentBefore = ' Adopt the unlabelled resources found by name (labels added); keep it while the environment is being brought over.';
  if (leftOut.length > 0) doc.comment = [' Left out of the draft:', ...leftOut.map((l) => ` - ${l}`)].join('\n');
  return doc.toString({ lineWidth: 0 });
}
