/**
 * The inventory: what the controller created, adopted and granted, kept in status so a binding dropped
 * from the spec can be revoked and a deleted environment cleaned up. Pure; names only, never a value.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import type { Inventory, JobMatchEnvironmentStatus } from '../api/types.js';
import type { ReconcileReport } from '../engine/reconcile.js';
import type { Action } from '../plan/types.js';

export type { Inventory };
export type InventoryBinding = Inventory['bindings'][number];
export type EnvironmentStatus = JobMatchEnvironmentStatus;

export const emptyInventory = (): Inventory => ({ resources: [], bindings: [] });

const bindingKey = (b: InventoryBinding) => `${b.resource} ${b.role} ${b.member}`;

/** Bindings the inventory holds that the spec no longer declares (present): to revoke. */
export function droppedBindings(spec: ResolvedSpec, inventory: Inventory | undefined): InventoryBinding[] {
  const declared = new Set(spec.iam.filter((b) => b.ensure === 'present').map(bindingKey));
  return (inventory?.bindings ?? []).filter((b) => !declared.has(bindingKey(b)));
}

/** The spec with an `ensure: absent` entry for every dropped binding, so the one engine plans their revocation. */
export function withRevocations(spec: ResolvedSpec, inventory: Inventory | undefined): ResolvedSpec {
  const dropped = droppedBindings(spec, inventory);
  if (dropped.length === 0) return spec;
  const explicit = new Set(spec.iam.map(bindingKey));
  return { ...spec, iam: [...spec.iam, ...dropped.filter((b) => !explicit.has(bindingKey(b))).map((b) => ({ ...b, ensure: 'absent' as const }))] };
}

/** Executed: its own steps succeeded, or (a grant made as its resource was created) that resource's did. */
const ok = (a: Action, report: ReconcileReport): boolean => report.results?.[a.id]?.outcome === 'ok'
  || (a.steps.length === 0 && a.dependsOn !== undefined && report.results?.[a.dependsOn]?.outcome === 'ok');

/**
 * The inventory after a reconcile: what is now ours and granted, minus what was deleted or revoked. A
 * declared binding is recorded as granted only when this operator's write added it (or, with
 * spec.policy.adoptExisting, it is adopted); one that already existed is someone else's: kept apart in
 * `preexisting`, so dropping it from the spec never revokes it.
 */
export function nextInventory(previous: Inventory | undefined, report: ReconcileReport, spec: ResolvedSpec): Inventory {
  const resources = new Map((previous?.resources ?? []).map((r) => [`${r.kind}/${r.name}`, r]));
  const bindings = new Map((previous?.bindings ?? []).map((b) => [bindingKey(b), b]));
  const declared = new Set(spec.iam.filter((b) => b.ensure === 'present').map(bindingKey));
  // Someone else's grants stay known while declared: once dropped they are reported (see droppedPreexisting) and forgotten.
  const preexisting = new Map((previous?.preexisting ?? []).filter((b) => declared.has(bindingKey(b))).map((b) => [bindingKey(b), b]));
  const entries = new Map(spec.iam.map((b) => [`IAMBinding/${b.resource} ${b.role} ${b.member}`, b]));
  for (const a of report.plan.actions) {
    const executed = ok(a, report);
    if (a.kind === 'IAMBinding') {
      const entry = entries.get(a.id);
      if (!entry) continue;
      const key = bindingKey(entry);
      const binding = { resource: entry.resource, role: entry.role, member: entry.member };
      if (entry.ensure === 'present' && executed && a.verb === 'create') {
        bindings.set(key, binding);
        preexisting.delete(key);
      } else if (entry.ensure === 'present' && a.verb === 'none' && !bindings.has(key)) {
        if (spec.policy.adoptExisting) bindings.set(key, binding);
        else preexisting.set(key, binding);
      }
      if (entry.ensure === 'absent' && (a.verb === 'none' || executed)) bindings.delete(key);
      continue;
    }
    if (a.verb === 'delete' && executed) resources.delete(a.id);
    else if ((a.verb === 'none' || a.verb === 'pending' || ((a.verb === 'create' || a.verb === 'update' || a.verb === 'adopt') && executed))) {
      resources.set(a.id, { kind: a.kind, name: a.name });
    }
  }
  const sort = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
  return { resources: sort(resources), bindings: sort(bindings), ...(preexisting.size > 0 ? { preexisting: sort(preexisting) } : {}) };
}

/** Someone else's bindings the spec no longer declares: left in place, and said once. */
export function droppedPreexisting(spec: ResolvedSpec, inventory: Inventory | undefined): InventoryBinding[] {
  const declared = new Set(spec.iam.filter((b) => b.ensure === 'present').map(bindingKey));
  return (inventory?.preexisting ?? []).filter((b) => !declared.has(bindingKey(b)));
}
