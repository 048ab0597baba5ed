/** An ObjectStore in memory, with finalizers and deletion like the API server's, for reconciler tests that need no cluster. */
import { parse } from 'yaml';
import { objectKey, type EnvironmentObject } from '../../src/controller/environment-object.js';
import type { EnvironmentStatus } from '../../src/controller/inventory.js';
import type { EventType, ObjectStore } from '../../src/controller/object-store.js';

export interface RecordedEvent {
  key: string;
  type: EventType;
  reason: string;
  message: string;
}

export class MemoryStore implements ObjectStore {
  readonly finalizers = true;
  readonly events: RecordedEvent[] = [];
  private readonly objects = new Map<string, EnvironmentObject>();
  private generation = 0;

  /** Creates or replaces the object a manifest (YAML) describes; keeps its status. */
  put(yaml: string): string {
    const manifest = parse(yaml) as EnvironmentObject['manifest'];
    const key = objectKey({ manifest });
    const previous = this.objects.get(key);
    manifest.metadata.generation = (previous?.manifest.metadata.generation ?? 0) + 1;
    manifest.metadata.creationTimestamp = previous?.manifest.metadata.creationTimestamp ?? new Date(Date.UTC(2026, 0, 1, 0, 0, ++this.generation)).toISOString();
    if (previous?.manifest.metadata.finalizers) manifest.metadata.finalizers = previous.manifest.metadata.finalizers;
    this.objects.set(key, { manifest, ...(previous?.status ? { status: previous.status } : {}) });
    return key;
  }

  /** kubectl delete: with a finalizer the object stays, marked for deletion, until the finalizer is removed. */
  delete(key: string): void {
    const o = this.objects.get(key);
    if (!o) return;
    if (o.manifest.metadata.finalizers?.length) o.manifest.metadata.deletionTimestamp = new Date().toISOString();
    else this.objects.delete(key);
  }

  annotate(key: string, annotations: Record<string, string>): void {
    const o = this.objects.get(key)!;
    o.manifest.metadata.annotations = { ...o.manifest.metadata.annotations, ...annotations };
  }

  list(): EnvironmentObject[] {
    return [...this.objects.values()];
  }

  get(key: string): EnvironmentObject | undefined {
    return this.objects.get(key);
  }

  statusOf(key: string): EnvironmentStatus | undefined {
    return this.objects.get(key)?.status;
  }

  async writeStatus(object: EnvironmentObject, status: EnvironmentStatus): Promise<void> {
    const o = this.objects.get(objectKey(object));
    if (o) o.status = status;
  }

  async addFinalizer(object: EnvironmentObject): Promise<void> {
    const o = this.objects.get(objectKey(object))!;
    o.manifest.metadata.finalizers = [...(o.manifest.metadata.finalizers ?? []), 'jobmatch.io/cleanup'];
  }

  async removeFinalizer(object: EnvironmentObject): Promise<void> {
    const key = objectKey(object);
    const o = this.objects.get(key);
    if (!o) return;
    o.manifest.metadata.finalizers = (o.manifest.metadata.finalizers ?? []).filter((f) => f !== 'jobmatch.io/cleanup');
    if (o.manifest.metadata.deletionTimestamp && o.manifest.metadata.finalizers.length === 0) this.objects.delete(key);
  }

  async event(object: EnvironmentObject, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ key: objectKey(object), type, reason, message });
  }
}
