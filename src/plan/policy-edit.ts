/** Read-modify-write of an IAM policy: add and remove single member grants, never touching anything else. Pure. */
import { fromAccessEntry, sameBinding, toAccessEntry } from './dataset-access.js';
import type { PolicyBinding } from './observed.js';
import type { BindingRef } from './types.js';

const unconditional = (b: PolicyBinding) => b.condition === undefined || b.condition === null;

export function editBindings(bindings: PolicyBinding[], add: BindingRef[], remove: BindingRef[]): PolicyBinding[] {
  const out = bindings.map((b) => ({ ...b, members: [...b.members] }));
  for (const r of remove) {
    for (const b of out) if (b.role === r.role && unconditional(b)) b.members = b.members.filter((m) => m !== r.member);
  }
  for (const a of add) {
    const binding = out.find((b) => b.role === a.role && unconditional(b));
    if (!binding) out.push({ role: a.role, members: [a.member] });
    else if (!binding.members.includes(a.member)) binding.members.push(a.member);
  }
  return out.filter((b) => b.members.length > 0);
}

/** The same edit on a dataset's access list: entries that are not plain grants (views, routines, project groups) are kept as they are. */
export function editAccess(access: Record<string, unknown>[], add: BindingRef[], remove: BindingRef[]): Record<string, unknown>[] {
  const kept = access.filter((entry) => {
    const binding = fromAccessEntry(entry);
    return !binding || !remove.some((r) => sameBinding(r, binding));
  });
  const granted = kept.map(fromAccessEntry).filter((b) => b !== undefined);
  const missing = add.filter((a) => !granted.some((g) => sameBinding(g, a))).map((a) => toAccessEntry(a.role, a.member));
  return [...kept, ...missing];
}
