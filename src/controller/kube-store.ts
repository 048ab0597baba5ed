/**
 * The API server as the controller's object store: a list+watch informer cache of JobMatchEnvironments,
 * status written with a merge patch carrying the resourceVersion read (409 → re-read), finalizers, and
 * aggregated Events. Only spec, annotation, finalizer or deletion changes wake the reconciler: our own
 * status writes do not (controller-runtime's GenerationChangedPredicate).
 */
import * as k8s from '@kubernetes/client-node';
import pLimit from 'p-limit';
import { API_VERSION, GROUP, KIND } from '../api/types.js';
import type { ActionLogger } from '../engine/action-log.js';
import { FINALIZER, objectKey, type EnvironmentObject } from './environment-object.js';
import type { EnvironmentStatus } from './inventory.js';
import { httpCode, ResilientListWatch, serverMessage, type ListWatchBackoff } from './list-watch.js';
import { StaleObjectError, type EventType, type ObjectStore } from './object-store.js';
import type { EnvironmentSummary } from './environment-summary.js';

const VERSION = API_VERSION.split('/')[1]!;
const PLURAL = 'jobmatchenvironments';
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const COMPONENT = 'jobmatch-operator';
/** Objects summarised per turn of the event loop (about 0.3 ms each). */
const COMPACT_BATCH = 200;
/** Objects per page of the list (client-go's pager uses 500). */
const LIST_PAGE = 500;

/** With sharding: which objects are this replica's (kept whole), and how another shard's object is summarised. */
export interface CompactOthers {
  keep: (object: EnvironmentObject) => boolean;
  summarize: (object: EnvironmentObject, previous: EnvironmentSummary | undefined) => EnvironmentSummary;
}

export interface KubeStoreOptions {
  namespace?: string;
  logger: ActionLogger;
  /** Called with the keys to reconcile, and the keys gone. */
  onChange: (changed: string[], removed: string[]) => void;
  /** Objects per page of the list (default 500). */
  listPageSize?: number;
  /** The restart backoff after a failed list or watch (default 1 s doubling to 30 s, ±10% jitter); tests shorten it. */
  backoff?: Partial<ListWatchBackoff>;
}

const CRD_NAME = `${PLURAL}.${GROUP}`;
const CRD_DIR = 'manifests/install/crd';

/** What a failed list or watch of JobMatchEnvironments means, said so a person can act on it. */
export function listWatchProblem(verb: 'list' | 'watch', error: unknown, namespace: string | undefined): string {
  const code = httpCode(error);
  const scope = namespace ? `in namespace ${namespace}` : 'cluster-wide';
  const server = serverMessage(error);
  if (code === 404) {
    return `cannot ${verb} JobMatchEnvironments: the CRD ${CRD_NAME} is not installed (404); install it, in its own step: \`kubectl apply --server-side -k ${CRD_DIR}\``;
  }
  if (code === 403) {
    return `forbidden (403): this identity may not ${verb} ${CRD_NAME} ${scope}${server ? ` (the apiserver says: ${server})` : ''}; `
      + `grant the verb "${verb}" on jobmatchenvironments in API group ${GROUP} (the ClusterRole jobmatch-operator of manifests/install/rbac.yaml has it)`;
  }
  if (code === 401) return `unauthorized (401): the apiserver refused this identity's credentials on the ${verb} of JobMatchEnvironments (an expired or wrong token or certificate in the kubeconfig)`;
  const message = (error as Error)?.message ?? String(error);
  return `the ${verb} of JobMatchEnvironments failed${code ? ` (${code})` : ''}: ${server ?? message.split('\n')[0]}`;
}

/** resourceVersions are opaque, but the apiserver's (etcd revisions) are integers: compared only when both are. */
function olderThan(a: EnvironmentObject, b: EnvironmentObject): boolean {
  const [x, y] = [a.manifest.metadata.resourceVersion, b.manifest.metadata.resourceVersion];
  return /^\d+$/.test(x ?? '') && /^\d+$/.test(y ?? '') && BigInt(x!) < BigInt(y!);
}

const isConflict = (e: unknown) => (e as { code?: number }).code === 409;
const isNotFound = (e: unknown) => (e as { code?: number }).code === 404;

function wakes(before: EnvironmentObject | undefined, after: EnvironmentObject): boolean {
  if (!before) return true;
  const a = before.manifest.metadata;
  const b = after.manifest.metadata;
  return a.generation !== b.generation || JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {})
    || a.deletionTimestamp !== b.deletionTimestamp || JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []);
}

export class KubeStore implements ObjectStore {
  readonly finalizers = true;
  private readonly cache = new Map<string, EnvironmentObject>();
  private readonly objects: k8s.CustomObjectsApi;
  private readonly events: k8s.CoreV1Api;
  private readonly eventNames = new Map<string, { name: string; namespace: string; count: number; first: string }>();
  private source: ResilientListWatch<k8s.KubernetesObject> | undefined;
  private compactOthers: CompactOthers | undefined;
  /** Pages listed since the start (each list is one or more). */
  listPages = 0;

  /** The first list succeeded (it stays true across later relists and re-watches, as client-go's HasSynced). */
  get synced(): boolean {
    return this.source?.synced ?? false;
  }

  /** Why the last list or watch failed, until one succeeds (for /readyz). */
  get problem(): string | undefined {
    return this.source?.problem;
  }

  constructor(private readonly kc: k8s.KubeConfig, private readonly options: KubeStoreOptions) {
    this.objects = kc.makeApiClient(k8s.CustomObjectsApi);
    this.events = kc.makeApiClient(k8s.CoreV1Api);
  }

  /**
   * From now on, an object this replica does not keep is held as its summary: its spec and status are dropped, here
   * and in the informer's own cache (at 10,000 environments they are most of a replica's memory).
   */
  compact(options: CompactOthers): void {
    this.compactOthers = options;
  }

  /** Holds as summaries the objects among `keys` this replica no longer keeps (a shard handed over). */
  compactKeys(keys: Iterable<string>): void {
    for (const key of keys) {
      const object = this.cache.get(key);
      if (object && !object.summary) this.cache.set(key, this.compacted(object, this.informerCopy(object), undefined));
    }
  }

  /** Keys to summarise, with the summary each had before its last event (reused while what it depends on is the same). */
  private readonly toCompact = new Map<string, EnvironmentSummary | undefined>();

  /**
   * Another shard's object is summarised a little later, a batch per turn of the event loop: a list of 10,000 objects
   * summarised at once would hold the loop for seconds, and with it the renewal of this replica's Leases.
   */
  private compactSoon(key: string, previous: EnvironmentSummary | undefined): void {
    this.toCompact.set(key, previous ?? this.toCompact.get(key));
    if (this.toCompact.size > 1) return;
    const sweep = () => {
      for (const [k, before] of [...this.toCompact].slice(0, COMPACT_BATCH)) {
        this.toCompact.delete(k);
        const object = this.cache.get(k);
        if (object && !object.summary && !this.compactOthers!.keep(object)) this.cache.set(k, this.compacted(object, this.informerCopy(object), before));
      }
      if (this.toCompact.size > 0) setImmediate(sweep);
    };
    setImmediate(sweep);
  }

  /** Reads whole the objects among `keys` held as summaries (a shard gained), at most 8 at a time. */
  async hydrate(keys: Iterable<string>): Promise<void> {
    const stubs = [...keys].filter((k) => this.cache.get(k)?.summary);
    await Promise.all(stubs.map((key) => this.reads(async () => {
      const whole = await this.fetch(key);
      // A watch event may have brought it whole meanwhile: that one is as fresh or fresher.
      if (whole && this.cache.get(key)?.summary) this.cache.set(key, whole);
    })));
  }

  private readonly reads = pLimit(8);

  /**
   * The list in pages of LIST_PAGE (one consistent snapshot, as client-go's pager): the apiserver never builds one huge
   * answer, and this process parses a page at a time, its Lease renewals running in between.
   */
  private async listPaged(): Promise<k8s.KubernetesListObject<k8s.KubernetesObject>> {
    const ns = this.options.namespace;
    const items: k8s.KubernetesObject[] = [];
    let page: k8s.KubernetesListObject<k8s.KubernetesObject>;
    let next: string | undefined;
    do {
      const paging = { limit: this.options.listPageSize ?? LIST_PAGE, ...(next ? { _continue: next } : {}) };
      this.listPages++;
      page = (await (ns
        ? this.objects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, ...paging })
        : this.objects.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, ...paging }))) as k8s.KubernetesListObject<k8s.KubernetesObject>;
      for (const item of page.items) {
        delete item.metadata?.managedFields;
        items.push(item);
      }
      // Custom objects come back as plain JSON: the field is `continue` (the typed models call it `_continue`).
      const meta = page.metadata as { continue?: string; _continue?: string } | undefined;
      next = meta?.continue || meta?._continue || undefined;
    } while (next);
    return { ...page, items };
  }

  async fetch(key: string): Promise<EnvironmentObject | undefined> {
    const [namespace = 'default', name = ''] = key.split('/', 2);
    try {
      const obj = await this.objects.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as k8s.KubernetesObject;
      delete obj.metadata?.managedFields;
      return toEnvironmentObject(obj);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private informerCopy(object: EnvironmentObject): k8s.KubernetesObject | undefined {
    return this.source?.cached(object.manifest.metadata.name, object.manifest.metadata.namespace);
  }

  /** The object as its summary; the informer's copy (`raw`) loses its spec and status too. */
  private compacted(object: EnvironmentObject, raw: k8s.KubernetesObject | undefined, previous: EnvironmentSummary | undefined): EnvironmentObject {
    const summary = this.compactOthers!.summarize(object, previous);
    if (raw) {
      delete (raw as { spec?: unknown }).spec;
      delete (raw as { status?: unknown }).status;
    }
    const { apiVersion, kind, metadata } = object.manifest;
    return { manifest: { apiVersion, kind, metadata } as EnvironmentObject['manifest'], summary };
  }

  list(): EnvironmentObject[] {
    return [...this.cache.values()];
  }

  get(key: string): EnvironmentObject | undefined {
    return this.cache.get(key);
  }

  private path(): string {
    return this.options.namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${this.options.namespace}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
  }

  /**
   * Lists, then watches (resourceVersion kept, relist on 410, re-watch when the server closes); restarts with backoff on
   * errors. Resolves after the first attempt, whether or not it listed: a failure is logged and retried (`synced` says
   * which). The informer says CONNECT before it lists, so only the list resolving counts as synced and resets the backoff.
   */
  async start(): Promise<void> {
    const ns = this.options.namespace;
    const source = new ResilientListWatch<k8s.KubernetesObject>(this.kc, {
      path: this.path(),
      list: () => this.listPaged(),
      describe: (verb, error) => listWatchProblem(verb, error, ns),
      logger: this.options.logger, logEvent: 'watch',
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
    });
    this.source = source;
    const upsert = (obj: k8s.KubernetesObject) => {
      // The informer keeps this very object in its own cache: dropping managedFields here frees it there too.
      delete obj.metadata?.managedFields;
      const object = toEnvironmentObject(obj);
      const key = objectKey(object);
      const before = this.cache.get(key);
      // A watch that lags behind our own writes delivers versions older than the one the write answered with: kept
      // out, or the next write would carry a stale resourceVersion and fail 409 (at 10,000 environments, every one).
      if (before && olderThan(object, before)) return;
      this.cache.set(key, object);
      if (this.compactOthers && !this.compactOthers.keep(object)) this.compactSoon(key, before?.summary);
      if (wakes(before, object)) this.options.onChange([key], []);
    };
    source.on(k8s.ADD, upsert).on(k8s.UPDATE, upsert).on(k8s.DELETE, (obj) => {
      const key = objectKey(toEnvironmentObject(obj));
      this.cache.delete(key);
      this.options.onChange([], [key]);
    });
    await source.start();
  }

  async stop(): Promise<void> {
    await this.source?.stop();
  }

  private async patch(object: EnvironmentObject, body: object, status: boolean): Promise<EnvironmentObject> {
    const { name, namespace = 'default', resourceVersion } = object.manifest.metadata;
    const params = { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { ...body, metadata: { ...(body as { metadata?: object }).metadata, resourceVersion } } };
    try {
      const updated = status
        ? await this.objects.patchNamespacedCustomObjectStatus(params, MERGE)
        : await this.objects.patchNamespacedCustomObject(params, MERGE);
      delete (updated as k8s.KubernetesObject).metadata?.managedFields;
      const next = toEnvironmentObject(updated as k8s.KubernetesObject);
      // Keep the cache at least as fresh as what we wrote, so the next reconcile reads it.
      this.cache.set(objectKey(next), next);
      return next;
    } catch (e) {
      if (isConflict(e)) throw new StaleObjectError(`${namespace}/${name} changed since it was read: reconciling again`);
      throw e;
    }
  }

  async writeStatus(object: EnvironmentObject, status: EnvironmentStatus): Promise<void> {
    await this.patch(object, { status: statusPatch(object.status, status) }, true);
  }

  async addFinalizer(object: EnvironmentObject): Promise<void> {
    await this.patch(object, { metadata: { finalizers: [...(object.manifest.metadata.finalizers ?? []), FINALIZER] } }, false);
  }

  async removeFinalizer(object: EnvironmentObject): Promise<void> {
    await this.patch(object, { metadata: { finalizers: (object.manifest.metadata.finalizers ?? []).filter((f) => f !== FINALIZER) } }, false);
  }

  /**
   * core/v1 Events, aggregated: the same reason and message on the same object patches one Event's count. An Event
   * that is gone (its TTL ran out, or someone deleted it) answers the patch 404: it is then created anew, from count 1.
   */
  async event(object: EnvironmentObject, type: EventType, reason: string, message: string): Promise<void> {
    const { name, namespace = 'default', uid, resourceVersion } = object.manifest.metadata;
    const key = `${namespace}/${name} ${type} ${reason} ${message}`;
    const now = new Date();
    try {
      const seen = this.eventNames.get(key);
      if (seen) {
        try {
          await this.events.patchNamespacedEvent({ name: seen.name, namespace, body: { count: seen.count + 1, lastTimestamp: now } }, MERGE);
          seen.count += 1;
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          this.eventNames.delete(key); // expired: forget the stale name and record it anew below
        }
      }
      const eventName = `${name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      await this.events.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: eventName, namespace },
          involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, ...(uid ? { uid: String(uid) } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
          type, reason, message: message.slice(0, 1024), count: 1, firstTimestamp: now, lastTimestamp: now,
          source: { component: COMPONENT }, reportingComponent: COMPONENT, reportingInstance: COMPONENT,
        },
      });
      this.eventNames.set(key, { name: eventName, namespace, count: 1, first: now.toISOString() });
    } catch (e) {
      this.options.logger.warn({ event: 'k8s-event', reason, code: httpCode(e), error: serverMessage(e) ?? (e as Error).message }, 'could not record an Event');
    }
  }
}

export function toEnvironmentObject(obj: k8s.KubernetesObject): EnvironmentObject {
  const { status, ...manifest } = obj as unknown as EnvironmentObject['manifest'] & { status?: EnvironmentObject['status'] };
  // managedFields (server-side apply's field owners) is often as large as the spec and nothing here reads it: not cached.
  const { managedFields: _, ...kept } = manifest.metadata as typeof manifest.metadata & { managedFields?: unknown };
  const metadata = kept as EnvironmentObject['manifest']['metadata'] & { creationTimestamp?: unknown; deletionTimestamp?: unknown };
  // client-node turns timestamps into Date objects; the controller compares strings.
  for (const field of ['creationTimestamp', 'deletionTimestamp'] as const) {
    const value = metadata[field] as unknown;
    if (value instanceof Date) (metadata as Record<string, unknown>)[field] = value.toISOString();
  }
  return { manifest: { ...manifest, metadata }, ...(status ? { status } : {}) };
}

/** A merge patch from one status to the next: what is gone is set to null (a merge patch keeps what it does not name). */
export function statusPatch(previous: EnvironmentStatus | undefined, next: EnvironmentStatus): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(previous ?? {})) if (!(key in next)) patch[key] = null;
  // A merge patch keeps the keys it does not name: a key that left a map (an export, the inventory's preexisting) is sent as null.
  for (const field of ['exports', 'inventory'] as const) {
    const gone = Object.keys(previous?.[field] ?? {}).filter((k) => !(k in (next[field] ?? {})));
    if (gone.length > 0 && next[field]) patch[field] = { ...next[field], ...Object.fromEntries(gone.map((k) => [k, null])) };
  }
  return patch;
}
