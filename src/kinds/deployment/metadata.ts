/** The instance metadata keys the operator owns on a VM (the VM agent's protocol) and Compute's limits on them. Pure. */

import { ENV_KEY, type HashedKey } from '../../api/config-hash.js';
import { CONFIG_HASH_KEY } from './signing.js';

export { CONFIG_HASH_KEY, ENV_KEY };

/** Roles that let a service account read a secret's versions. */
export const ACCESS_ROLES = ['roles/secretmanager.secretAccessor', 'roles/secretmanager.admin', 'roles/owner'];

/** Compute's limits: a value up to 256 KB, all metadata of an instance up to 512 KB. */
export const MAX_VALUE_BYTES = 256 * 1024;
export const MAX_TOTAL_BYTES = 512 * 1024;

/** Every key the operator writes but the signature: the hashed values, the rollout id, guest attributes on. */
export function desiredMetadata(values: Record<HashedKey, string>, rolloutId: string): Record<string, string> {
  return { ...values, 'enable-guest-attributes': 'TRUE', [CONFIG_HASH_KEY]: rolloutId };
}

/** The config hash a rollout id stands for: sha256:… without its #redeploy token. */
export function rolloutOf(id: string | undefined): string | undefined {
  return id === undefined || id === '' ? undefined : id.split('#', 1)[0];
}

/** The instance's items with `set` written over them, every other key kept as it was (in its order). */
export function mergeItems(items: { key: string; value: string }[], set: Record<string, string>): { key: string; value: string }[] {
  const kept = items.filter((i) => !(i.key in set));
  return [...kept, ...Object.entries(set).map(([key, value]) => ({ key, value }))];
}

const kb = (bytes: number) => `${Math.ceil(bytes / 1024)} KB`;

/** Why Compute would refuse the metadata after the push, in words a person can act on; undefined when it fits. */
export function metadataProblem(set: Record<string, string>, current: Record<string, string>): string | undefined {
  for (const [key, value] of Object.entries(set)) {
    const bytes = Buffer.byteLength(value);
    if (bytes > MAX_VALUE_BYTES) {
      const what = key === ENV_KEY ? 'the rendered .env' : `metadata value ${key}`;
      return `${what} is ${kb(bytes)}; Compute allows at most 256 KB per metadata value: move large values out of spec.app.config (into a file in the compose checkout)`;
    }
  }
  const total = Object.entries({ ...current, ...set }).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (total > MAX_TOTAL_BYTES) return `the VM's metadata would be ${kb(total)}; Compute allows at most 512 KB per instance: shrink spec.app.config or the VM's other metadata`;
  return undefined;
}
