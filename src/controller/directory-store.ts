/**
 * `run --manifests DIR`: the controller's loop over a watched directory instead of a cluster. Objects
 * come from the directory's manifests; their status lives in memory, is printed as a JSON line when it
 * changes, and is kept in a state file (written atomically) so a restart forgets nothing — the
 * inventory above all. No finalizers here: deleting a file stops managing its environment.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseYamlDocuments } from '../api/yaml-documents.js';
import type { ActionLogger } from '../engine/action-log.js';
import { objectKey, type EnvironmentObject } from './environment-object.js';
import type { EnvironmentStatus } from './inventory.js';
import type { EventType, ObjectStore } from './object-store.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/;

interface FileDocs {
  /** size:mtime, so an unchanged file is not parsed again. */
  stamp: string;
  docs: { key: string; raw: EnvironmentObject['manifest']; specHash: string }[];
}

interface Stored {
  object: EnvironmentObject;
  specHash: string;
  withStatus?: EnvironmentObject;
}

export class DirectoryStore implements ObjectStore {
  readonly finalizers = false;
  private readonly objects = new Map<string, Stored>();
  private files = new Map<string, FileDocs>();
  private statuses: Record<string, EnvironmentStatus> = {};
  private readonly eventCounts = new Map<string, number>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string, private readonly logger: ActionLogger,
    private readonly options: { stateFile?: string; printStatus?: (line: string) => void } = {},
  ) {}

  list(): EnvironmentObject[] {
    return [...this.objects.keys()].map((key) => this.get(key)!);
  }

  /** The object with its status, made once per change (not per read): readers may compare by identity. */
  get(key: string): EnvironmentObject | undefined {
    const stored = this.objects.get(key);
    if (!stored) return undefined;
    const status = this.statuses[key];
    if (!stored.withStatus || stored.withStatus.status !== status) stored.withStatus = status ? { ...stored.object, status } : stored.object;
    return stored.withStatus;
  }

  statusOf(key: string): EnvironmentStatus | undefined {
    return this.statuses[key];
  }

  allStatuses(): Record<string, EnvironmentStatus> {
    return Object.fromEntries([...this.objects.keys()].map((k) => [k, this.statuses[k]]).filter(([, s]) => s));
  }

  async writeStatus(object: EnvironmentObject, status: EnvironmentStatus): Promise<void> {
    const key = objectKey(object);
    this.statuses[key] = status;
    this.options.printStatus?.(`${JSON.stringify({ object: key, status })}\n`);
    await this.saveState();
  }

  async addFinalizer(): Promise<void> {}
  async removeFinalizer(): Promise<void> {}

  async event(object: EnvironmentObject, type: EventType, reason: string, message: string): Promise<void> {
    const key = `${objectKey(object)} ${reason} ${message}`;
    const count = (this.eventCounts.get(key) ?? 0) + 1;
    this.eventCounts.set(key, count);
    // Aggregated like Kubernetes events: the first, then every tenth repeat.
    if (count === 1 || count % 10 === 0) this.logger[type === 'Warning' ? 'warn' : 'info']({ event: 'k8s-event', object: objectKey(object), type, reason, count }, message);
  }

  /** Loads the state file (if any) and the directory; the keys present. */
  async load(): Promise<string[]> {
    if (this.options.stateFile) {
      try {
        this.statuses = JSON.parse(await readFile(this.options.stateFile, 'utf8')) as Record<string, EnvironmentStatus>;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`--state ${this.options.stateFile}: cannot read it (${(e as Error).message}); move it away to start afresh`);
      }
    }
    return this.rescan().then((r) => r.changed);
  }

  /** Re-reads the manifests that changed on disk (by size and mtime); which keys changed (added or spec edited) and which are gone. */
  async rescan(): Promise<{ changed: string[]; removed: string[] }> {
    const names = (await readdir(this.dir)).filter((n) => MANIFEST_FILE.test(n)).sort();
    const seen = new Map<string, { raw: EnvironmentObject['manifest']; specHash: string }>();
    const files = new Map<string, FileDocs>();
    for (const name of names) {
      const file = join(this.dir, name);
      const info = await stat(file).catch(() => undefined);
      const stamp = info ? `${info.size}:${info.mtimeMs}` : '';
      const cached = this.files.get(file);
      const docs = cached?.stamp === stamp ? cached : { stamp, docs: await this.parseFile(file) };
      files.set(file, docs);
      for (const d of docs.docs) seen.set(d.key, d);
    }
    this.files = files;
    const changed: string[] = [];
    for (const [key, { raw, specHash }] of seen) {
      const before = this.objects.get(key);
      if (before?.specHash === specHash) continue;
      const generation = (before?.object.manifest.metadata.generation ?? 0) + 1;
      const manifest = { ...raw, metadata: { ...raw.metadata, generation, creationTimestamp: before?.object.manifest.metadata.creationTimestamp ?? new Date().toISOString() } };
      this.objects.set(key, { object: { manifest }, specHash });
      changed.push(key);
    }
    const removed = [...this.objects.keys()].filter((k) => !seen.has(k));
    for (const key of removed) this.objects.delete(key);
    return { changed, removed };
  }

  private async parseFile(file: string): Promise<FileDocs['docs']> {
    const parsed = parseYamlDocuments(await readFile(file, 'utf8').catch(() => ''), file);
    for (const e of parsed.errors) this.logger.error({ event: 'manifest', file, error: e.message }, 'cannot read a manifest');
    return parsed.documents.flatMap((doc) => {
      const raw = doc.value as EnvironmentObject['manifest'] | null;
      if (!raw?.metadata?.name) {
        this.logger.error({ event: 'manifest', file, document: doc.index }, 'a document without metadata.name is skipped');
        return [];
      }
      const json = JSON.stringify(raw);
      // Parsed again from JSON: the YAML parser's strings are slices that would keep the whole file's text alive.
      const plain = JSON.parse(json) as EnvironmentObject['manifest'];
      return [{ key: objectKey({ manifest: plain }), raw: plain, specHash: createHash('sha256').update(json).digest('base64') }];
    });
  }

  /** Watches the directory; `onChange` gets the keys to reconcile and the ones gone. */
  watch(onChange: (changed: string[], removed: string[]) => void): void {
    this.watcher = watch(this.dir, () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.rescan().then(({ changed, removed }) => onChange(changed, removed), (e: unknown) => {
        this.logger.error({ event: 'manifest', error: (e as Error).message }, 'cannot rescan the manifests directory');
      }), 100);
    });
  }

  async close(): Promise<void> {
    this.watcher?.close();
    clearTimeout(this.debounce);
    await this.writing;
  }

  /** Atomically: a temp file, then rename; writes never interleave. */
  private saveState(): Promise<void> {
    const file = this.options.stateFile;
    if (!file) return Promise.resolve();
    this.writing = this.writing.then(async () => {
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(this.statuses, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, file);
    });
    return this.writing;
  }
}
