/**
 * What one environment's reconcile must know about all the others (who claims which GCP resource, who wants which
 * binding present or absent, who names which environment as its parity reference), kept as inverted indexes that
 * change only with the object that changed. A reconcile then costs the size of its own spec, not the number of
 * environments: before, each one rebuilt claims and contested bindings over every object (O(N²) for a cold sync,
 * and most of its garbage).
 */
import type { TenancyRequest } from '../api/tenancy.js';
import type { EnvironmentSummary } from './environment-summary.js';

interface Entry {
  order: string;
  environment?: string;
  reference?: string;
  project?: string;
  tenancy?: TenancyRequest;
  claims: string[];
  bindings: { key: string; ensure: 'present' | 'absent' }[];
}

const add = <V>(index: Map<string, Set<V>>, key: string, value: V) => {
  const set = index.get(key) ?? new Set<V>();
  set.add(value);
  index.set(key, set);
};
const remove = <V>(index: Map<string, Set<V>>, key: string, value: V) => {
  const set = index.get(key);
  set?.delete(value);
  if (set?.size === 0) index.delete(key);
};

/** Whether an object takes part in the others' reconciles: with tenants, one its namespace may not declare does not. */
export type Admits = (key: string, request: TenancyRequest) => boolean;

export class CrossEnvironmentIndex {
  /**
   * `admits` is asked at each question, never remembered: a namespace's labels (and so what it may declare) change
   * without its objects changing. An object refused by tenancy claims nothing and has no say on any binding: else a
   * namespace allowed only staging* could squat prod's names and stall prod's own environment, or hold its grants back.
   */
  constructor(private readonly admits: Admits = () => true) {}

  private readonly entries = new Map<string, Entry>();
  private readonly claimants = new Map<string, Set<string>>();
  private readonly present = new Map<string, Set<string>>();
  private readonly absent = new Map<string, Set<string>>();
  private readonly byEnvironment = new Map<string, Set<string>>();
  private readonly byReference = new Map<string, Set<string>>();

  /** (Re)indexes one object from its summary. */
  set(key: string, summary: EnvironmentSummary): void {
    this.delete(key);
    const live = summary.live;
    const entry: Entry = {
      order: summary.order, claims: live?.claims ?? [], bindings: live?.bindings ?? [],
      ...(live ? { environment: live.environment, project: live.project } : {}),
      ...(live?.reference ? { reference: live.reference } : {}),
      ...(live ? { tenancy: live.tenancy } : {}),
    };
    this.entries.set(key, entry);
    for (const c of entry.claims) add(this.claimants, c, key);
    for (const b of entry.bindings) add(b.ensure === 'present' ? this.present : this.absent, b.key, key);
    if (entry.environment) add(this.byEnvironment, entry.environment, key);
    if (entry.reference) add(this.byReference, entry.reference, key);
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    for (const c of entry.claims) remove(this.claimants, c, key);
    for (const b of entry.bindings) remove(b.ensure === 'present' ? this.present : this.absent, b.key, key);
    if (entry.environment) remove(this.byEnvironment, entry.environment, key);
    if (entry.reference) remove(this.byReference, entry.reference, key);
  }

  /** For each claim of `key` that an object indexed before it also makes: the earliest such object (it holds the resource). */
  heldBefore(key: string): Map<string, string> {
    const held = new Map<string, string>();
    for (const c of this.entries.get(key)?.claims ?? []) {
      let first: string | undefined;
      for (const other of this.claimants.get(c) ?? []) if (other !== key && this.before(other, key) && (!first || this.before(other, first)) && this.admitted(other)) first = other;
      if (first) held.set(c, first);
    }
    return held;
  }

  /** The live objects of a project. */
  inProject(project: string): string[] {
    return [...this.entries].filter(([, e]) => e.project === project).map(([k]) => k);
  }

  /** The objects wanting this binding present. */
  wantingPresent(bindingKey: string): string[] {
    return this.only(this.present.get(bindingKey));
  }

  private admitted(key: string): boolean {
    const e = this.entries.get(key);
    return e?.tenancy !== undefined && this.admits(key, e.tenancy);
  }

  private only(keys: Iterable<string> | undefined): string[] {
    return [...(keys ?? [])].filter((k) => this.admitted(k));
  }

  private before(a: string, b: string): boolean {
    const x = this.entries.get(a)!.order;
    const y = this.entries.get(b)!.order;
    return x < y || (x === y && a < b);
  }

  /** Binding key → why it is contested, for `key`'s own bindings that some environment wants present and another absent. */
  contested(key: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const { key: b } of this.entries.get(key)?.bindings ?? []) {
      // Tenancy is asked only when both sides have a holder: most bindings have no one wanting them absent.
      if (!this.present.has(b) || !this.absent.has(b)) continue;
      const present = this.only(this.present.get(b));
      const absent = this.only(this.absent.get(b));
      if (present.length === 0 || absent.length === 0) continue;
      const names = (keys: string[]) => keys.map((k) => this.entries.get(k)?.environment ?? k).sort().join(', ');
      out.set(b, `environment(s) ${names(present)} want this binding present and ${names(absent)} absent: nothing is written until the manifests agree`);
    }
    return out;
  }

  /** The live, valid objects whose spec.environment is `environment`. */
  withEnvironment(environment: string): string[] {
    return this.only(this.byEnvironment.get(environment));
  }

  /** The live, valid objects whose spec.parity.reference names `environment`. */
  referencing(environment: string): string[] {
    return [...(this.byReference.get(environment) ?? [])];
  }
}
