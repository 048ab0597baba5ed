/** IAM policies as the gax (GAPIC) clients carry them: the etag as bytes; observations keep it as base64 text. */
import type { PolicyObservation } from '../plan/observed.js';

type Json = Record<string, any>;

export function toPolicyObservation(policy: Json): PolicyObservation {
  const etag = policy.etag instanceof Uint8Array ? Buffer.from(policy.etag).toString('base64') : String(policy.etag ?? '');
  return {
    etag,
    bindings: ((policy.bindings ?? []) as Json[]).map((b) => ({ role: b.role, members: b.members ?? [], ...(b.condition ? { condition: b.condition } : {}) })),
  };
}

export function fromPolicyObservation(policy: PolicyObservation): Json {
  return { version: 3, etag: Buffer.from(policy.etag, 'base64'), bindings: policy.bindings };
}
