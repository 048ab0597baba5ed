/**
 * Observes an environment in one parallel wave, for every kind of the registry: one read per declared
 * resource, one per IAM policy touched (unless the kind's policy comes with the resource), one list per
 * kind for orphans, and the project's number when a kind has global names. A failed read fails only its
 * resource. `observeResource` reads one resource again, fresh.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { ENVIRONMENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/naming.js';
import type { Kind } from '../kinds/kind.js';
import { GcpError } from '../gcp/gcp-error.js';
import { policyKey, policyTargets } from '../plan/desired.js';
import { emptyObservation, PROJECT_NUMBER_READ, type LabelledResource, type ObservedEnvironment } from '../plan/observed.js';
import { recordedDeletionPolicy } from '../plan/ownership.js';
import type { Connection } from './connection.js';

/** The kinds listed for orphans: all but the external ones (never the operator's to delete). */
const listing = (kinds: readonly Kind[]) => kinds.filter((k) => !k.external);

/** The minimal number of reads an observation of this spec costs (the benchmark's denominator). */
export function minimalReads(spec: ResolvedSpec, kinds: readonly Kind[]): number {
  const embedded = new Set(kinds.filter((k) => k.embeddedPolicy).map((k) => k.kind as string));
  const policies = policyTargets(spec, kinds).filter((t) => !embedded.has(t.kind)).length;
  const perResource = kinds.reduce((n, k) => n + k.desired(spec).length * (k.readsPerResource ?? 1), 0);
  const projectNumber = kinds.some((k) => k.globalNames && k.desired(spec).length > 0) ? 1 : 0;
  return perResource + policies + listing(kinds).length + projectNumber;
}

type Attempt = <T>(key: string, read: () => Promise<T>, store: (value: T) => void) => Promise<void>;

function attempter(observed: ObservedEnvironment): Attempt {
  return async (key, read, store) => {
    try {
      store(await read());
    } catch (e) {
      observed.errors[key] = (e as Error).message;
      if (e instanceof GcpError && e.unreachable) observed.unreachable ??= e.info.message;
    }
  };
}

const declaredIds = (spec: ResolvedSpec, kinds: readonly Kind[]) => new Set(kinds.flatMap((k) => k.desired(spec).map((d) => `${k.kind}/${d.name}`)));

/** Only an undeclared resource that is ours and recorded for deletion needs its contents counted. */
const toBeDeleted = (r: LabelledResource, env: string) =>
  r.labels[ENVIRONMENT_LABEL] === env && r.labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && recordedDeletionPolicy(r.labels) === 'delete';

/** Contents (for kinds that must be empty to delete) and the precondition a delete relies on, when the list did not give it. */
async function readForDelete(r: LabelledResource, kind: Kind, conn: Connection): Promise<void> {
  const client = conn.client(r.kind);
  const [contents, fresh] = await Promise.all([
    kind.contentsNoun && client.contents ? client.contents(r.name) : undefined,
    r.version === undefined ? client.observe(r.name) : undefined,
  ]);
  if (contents) r.contents = contents;
  if (fresh) r.version = fresh.version;
}

export async function observeEnvironment(spec: ResolvedSpec, conn: Connection, now: Date): Promise<ObservedEnvironment> {
  const observed = emptyObservation(now);
  const attempt = attempter(observed);
  const env = spec.environment;
  const { kinds } = conn;
  const embedded = new Set(kinds.filter((k) => k.embeddedPolicy).map((k) => k.kind as string));
  const projectNumber = () => attempt(PROJECT_NUMBER_READ, () => conn.projectNumber(), (n) => (observed.projectNumber = n));
  const needsNumber = kinds.some((k) => k.globalNames && k.desired(spec).length > 0);
  await Promise.all([
    ...(needsNumber ? [projectNumber()] : []),
    ...kinds.flatMap((kind) => kind.desired(spec).map((d) => {
      const id = `${kind.kind}/${d.name}`;
      return attempt(id, () => conn.client(kind.kind).observe(d.name), (o) => {
        observed.resources[id] = o;
        if (o && kind.policyOf) observed.policies[policyKey({ kind: kind.kind, name: d.name, project: spec.gcp.projectId })] = kind.policyOf(o);
      });
    })),
    ...policyTargets(spec, kinds).filter((t) => !embedded.has(t.kind)).map((t) =>
      attempt(policyKey(t), () => conn.readPolicy(t), (p) => (observed.policies[policyKey(t)] = p))),
    ...listing(kinds).map((kind) => attempt(`labelled/${kind.kind}`, () => conn.client(kind.kind).listLabelled(env), (found) => observed.labelled.push(...found))),
  ]);
  observed.labelled.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
  // Rare second wave: only when something undeclared is recorded for deletion.
  const declared = declaredIds(spec, kinds);
  const deletable = observed.labelled.filter((r) => !declared.has(`${r.kind}/${r.name}`) && toBeDeleted(r, env));
  const kindOf = (r: LabelledResource) => kinds.find((k) => k.kind === r.kind)!;
  const undeclaredGlobal = observed.labelled.some((r) => !declared.has(`${r.kind}/${r.name}`) && kindOf(r).globalNames);
  await Promise.all([
    // An orphan with a global name is ours only in the manifest's project: its number is needed to decide.
    ...(undeclaredGlobal && observed.projectNumber === undefined ? [projectNumber()] : []),
    ...deletable.map((r) => attempt(`${r.kind}/${r.name}`, () => readForDelete(r, kindOf(r), conn), () => undefined)),
  ]);
  return observed;
}

/** The observation with resource `id` (Kind/name) read again: what the executor re-plans from after a 409/412. */
export async function observeResource(spec: ResolvedSpec, conn: Connection, observed: ObservedEnvironment, id: string): Promise<ObservedEnvironment> {
  const [kindName, name] = id.split(/\/(.*)/s) as [string, string];
  const kind = conn.kinds.find((k) => k.kind === kindName);
  const fresh: ObservedEnvironment = { ...observed, resources: { ...observed.resources }, policies: { ...observed.policies }, errors: { ...observed.errors } };
  delete fresh.errors[id];
  if (!kind) return fresh;
  const attempt = attempter(fresh);
  const client = conn.client(kind.kind);
  if (declaredIds(spec, conn.kinds).has(id)) {
    await attempt(id, () => client.observe(name), (o) => {
      fresh.resources[id] = o;
      if (o && kind.policyOf) fresh.policies[policyKey({ kind: kind.kind, name, project: spec.gcp.projectId })] = kind.policyOf(o);
    });
    return fresh;
  }
  await attempt(id, async () => {
    const o = await client.observe(name);
    if (!o) return undefined;
    const r: LabelledResource = { kind: kind.kind, name, labels: o.labels, version: o.version, ...(o.projectNumber !== undefined ? { projectNumber: o.projectNumber } : {}) };
    await readForDelete(r, kind, conn);
    return r;
  }, (r) => {
    fresh.labelled = [...observed.labelled.filter((x) => `${x.kind}/${x.name}` !== id), ...(r ? [r] : [])];
  });
  return fresh;
}
