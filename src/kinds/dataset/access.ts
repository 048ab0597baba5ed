/** Dataset IAM is the dataset's access list: the mapping between IAM bindings and BigQuery access entries. */
import type { PolicyBinding } from '../../plan/observed.js';
import type { BindingRef } from '../../plan/types.js';

type AccessEntry = BindingRef;

const BASIC_ROLES: Record<string, string> = {
  'roles/bigquery.dataViewer': 'READER',
  'roles/bigquery.dataEditor': 'WRITER',
  'roles/bigquery.dataOwner': 'OWNER',
};
const IAM_ROLES = Object.fromEntries(Object.entries(BASIC_ROLES).map(([k, v]) => [v, k]));

/** The access entry BigQuery stores for an IAM binding. */
export function toAccessEntry(role: string, member: string): Record<string, unknown> {
  const basic = BASIC_ROLES[role] ?? role;
  const [type, id = ''] = member.split(/:(.*)/s) as [string, string | undefined];
  if (type === 'user' || type === 'serviceAccount') return { role: basic, userByEmail: id };
  if (type === 'group') return { role: basic, groupByEmail: id };
  if (type === 'domain') return { role: basic, domain: id };
  if (member === 'allAuthenticatedUsers') return { role: basic, specialGroup: 'allAuthenticatedUsers' };
  return { role: basic, iamMember: member };
}

/** The IAM binding an access entry grants, or undefined for entries that are not one (views, routines, project groups). */
export function fromAccessEntry(entry: Record<string, unknown>): AccessEntry | undefined {
  if (typeof entry.role !== 'string') return undefined;
  const role = IAM_ROLES[entry.role] ?? entry.role;
  if (typeof entry.userByEmail === 'string') {
    return { role, member: `${entry.userByEmail.endsWith('.gserviceaccount.com') ? 'serviceAccount' : 'user'}:${entry.userByEmail}` };
  }
  if (typeof entry.groupByEmail === 'string') return { role, member: `group:${entry.groupByEmail}` };
  if (typeof entry.domain === 'string') return { role, member: `domain:${entry.domain}` };
  if (entry.specialGroup === 'allAuthenticatedUsers') return { role, member: 'allAuthenticatedUsers' };
  if (typeof entry.iamMember === 'string') return { role, member: entry.iamMember };
  return undefined;
}

/** Every grant a dataset step would write: a create's access list, or a patch that sets one. */
export function accessGrants(step: { body?: Record<string, unknown>; patch?: Record<string, unknown> }): AccessEntry[] {
  const access = step.body?.access ?? step.patch?.access;
  return Array.isArray(access) ? access.flatMap((e) => {
    const b = typeof e === 'object' && e !== null ? fromAccessEntry(e as Record<string, unknown>) : undefined;
    return b ? [b] : [];
  }) : [];
}

export const sameBinding = (a: AccessEntry, b: AccessEntry) => a.role === b.role && a.member === b.member;

/** The access list as IAM bindings, one member each (entries that are not grants are left out). */
export function accessBindings(access: Record<string, unknown>[]): PolicyBinding[] {
  return access.map(fromAccessEntry).filter((b) => b !== undefined).map((b) => ({ role: b.role, members: [b.member] }));
}

/** The same edit as editBindings on a dataset's access list: entries that are not plain grants (views, routines, project groups) are kept as they are. */
export function editAccess(access: Record<string, unknown>[], add: AccessEntry[], remove: AccessEntry[]): Record<string, unknown>[] {
  const kept = access.filter((entry) => {
    const binding = fromAccessEntry(entry);
    return !binding || !remove.some((r) => sameBinding(r, binding));
  });
  const granted = kept.map(fromAccessEntry).filter((b) => b !== undefined);
  const missing = add.filter((a) => !granted.some((g) => sameBinding(g, a))).map((a) => toAccessEntry(a.role, a.member));
  return [...kept, ...missing];
}
