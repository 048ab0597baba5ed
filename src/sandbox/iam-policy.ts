/** Read-modify-write IAM policies with etags, shared by every emulated API. */
import { notBase64Field, sameEtagBytes } from './etags.js';
import { ApiError, invalid } from './google-error.js';
import { policyEtag, type Binding, type IamPolicy, type Json } from './store.js';

const MEMBER = /^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|projectOwner|projectEditor|projectViewer|principal|principalSet|deleted:user|deleted:serviceAccount|deleted:group):\S+)$/;
const ROLE = /^(roles\/[A-Za-z0-9_.]+|(projects|organizations)\/[^/]+\/roles\/[A-Za-z0-9_.]+)$/;

function parseBindings(value: unknown): Binding[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('Invalid value at \'policy.bindings\': must be a list');
  return value.map((b: unknown, i) => {
    const binding = b as Partial<Binding> | null;
    if (typeof binding?.role !== 'string' || !ROLE.test(binding.role)) {
      throw invalid(`Role ${JSON.stringify(binding?.role)} is not valid (policy.bindings[${i}].role).`);
    }
    const members = binding.members ?? [];
    if (!Array.isArray(members) || members.some((m) => typeof m !== 'string' || !MEMBER.test(m))) {
      throw invalid(`Invalid member in policy.bindings[${i}].members: ${JSON.stringify(members)}`);
    }
    return { role: binding.role, members: [...new Set(members)], ...(binding.condition ? { condition: binding.condition as Json } : {}) };
  });
}

/**
 * Replaces a policy's bindings as setIamPolicy does. A stale etag is refused with `stale`
 * (412 for Cloud Storage, 409 ABORTED for the gRPC-style APIs); no etag means "overwrite". The etag is `bytes`:
 * compared as the bytes it encodes (gcloud sends it back URL-safe), one that is not base64 refused with 400 naming
 * `etagField`, the field's path in the request ('policy.etag' where the policy is wrapped, 'etag' where it is the body).
 */
export function replacePolicy(current: IamPolicy, incoming: unknown, stale: () => ApiError, etagField = 'policy.etag'): void {
  if (typeof incoming !== 'object' || incoming === null) throw invalid('policy is required');
  const policy = incoming as { etag?: unknown; bindings?: unknown; version?: unknown };
  if (policy.etag !== undefined && policy.etag !== '') {
    if (typeof policy.etag !== 'string') throw notBase64Field(etagField)(JSON.stringify(policy.etag));
    if (!sameEtagBytes(policy.etag, policyEtag(current), notBase64Field(etagField))) throw stale();
  }
  const bindings = parseBindings(policy.bindings).filter((b) => b.members.length > 0);
  current.bindings = bindings;
  current.version = typeof policy.version === 'number' && policy.version > 0 ? policy.version : bindings.some((b) => b.condition) ? 3 : 1;
  current.serial += 1;
}
