/**
 * What one environment's reconcile must know about all the others (who claims which GCP resource, who wants which
 * binding present or absent, who names which environment as its parity reference), kept as inverted indexes that
 * change only with the object that changed. A reconcile then costs the size of its own spec, not the number of
 * environments: before, each one rebuilt claims and contested bindings over every object (O(N²) for a cold sync,
 * and most of its garbage).
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { claimKeys } from '../api/claims.js';
import { bindingKey } from '../plan/contested-bindings.js';
import { desiredBindings } from '../plan/desired.js';
import type { KindPlanner } from '../plan/kind-planner.js';

/** One object as the index sees it: a valid, live object has a spec (with its revocations); others take no part. */
export interface IndexInput {
  key: string;
  /** creationTimestamp, then key: of two objects claiming a resource, the later one is in conflict. */
  order: string;
  /** Valid and not being deleted: the spec with the inventory's revocations (withRevocations). */
  spec?: ResolvedSpec;
  /** The spec as declared, for claims (revocations claim nothing). */
  declared?: ResolvedSpec;
}

interface Entry {
  order: string;
  environment?: string;
  reference?: string;
  project?: string;
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

export class CrossEnvironmentIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly claimants = new Map<string, Set<string>>();
  private readonly present = new Map<string, Set<string>>();
  private readonly absent = new Map<string, Set<string>>();
  private readonly byEnvironment = new Map<string, Set<string>>();
  private readonly byReference = new Map<string, Set<string>>();

  constructor(private readonly kinds: readonly KindPlanner[]) {}

  get size(): number {
    return this.entries.size;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** (Re)indexes one object. */
  set(input: IndexInput): void {
    this.delete(input.key);
    const { spec, declared } = input;
    const entry: Entry = {
      order: input.order,
      claims: declared ? claimKeys(declared) : [],
      bindings: spec ? desiredBindings(spec, this.kinds).map((b) => ({ key: bindingKey(b), ensure: b.ensure })) : [],
      ...(spec ? { environment: spec.environment, project: spec.gcp.projectId } : {}),
      ...(spec?.parity?.reference ? { reference: spec.parity.reference } : {}),
    };
    this.entries.set(input.key, entry);
    for (const c of entry.claims) add(this.claimants, c, input.key);
    for (const b of entry.bindings) add(b.ensure === 'present' ? this.present : this.absent, b.key, input.key);
    if (entry.environment) add(this.byEnvironment, entry.environment, input.key);
    if (entry.reference) add(this.byReference, entry.reference, input.key);
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

  /** The objects sharing a claim with `key` and indexed before it (earliest first): they hold those resources. */
  earlierClaimants(key: string): string[] {
    const mine = this.entries.get(key);
    if (!mine) return [];
    const earlier = new Set<string>();
    for (const c of mine.claims) for (const other of this.claimants.get(c) ?? []) if (this.before(other, key)) earlier.add(other);
    return [...earlier].sort((a, b) => (this.before(a, b) ? -1 : 1));
  }

  private before(a: string, b: string): boolean {
    const x = this.entries.get(a)!.order;
    const y = this.entries.get(b)!.order;
    return x < y || (x === y && a < b);
  }

  /** Binding key → why it is contested, for `key`'s own bindings that some environment wants present and another absent. */
  contested(key: string, environmentOf: (key: string) => string): Map<string, string> {
    const out = new Map<string, string>();
    for (const { key: b } of this.entries.get(key)?.bindings ?? []) {
      const present = this.present.get(b);
      const absent = this.absent.get(b);
      if (!present || !absent) continue;
      const names = (keys: Set<string>) => [...keys].map(environmentOf).sort().join(', ');
      out.set(b, `environment(s) ${names(present)} want this binding present and ${names(absent)} absent: nothing is written until the manifests agree`);
    }
    return out;
  }

  /** The live, valid objects whose spec.environment is `environment`. */
  withEnvironment(environment: string): string[] {
    return [...(this.byEnvironment.get(environment) ?? [])];
  }

  /** The live, valid objects whose spec.parity.reference names `environment`. */
  referencing(environment: string): string[] {
    return [...(this.byReference.get(environment) ?? [])];
  }

  environmentOf(key: string): string | undefined {
    return this.entries.get(key)?.environment;
  }
}
