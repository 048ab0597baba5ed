/** Read-modify-write of an IAM policy: add and remove single member grants, never touching anything else. Pure. */
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
