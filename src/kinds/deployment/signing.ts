/**
 * What the VM agent verifies before it deploys, beyond the hash (api/config-hash.ts; vm-agent/README.md). Pure.
 * jobmatch-config-signature is an HMAC-SHA256, with the environment's deploy key (a generated
 * secret in Secret Manager), of the hash and a serial that only grows, so a metadata writer without the key
 * can neither forge a configuration nor replay an older signed one.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const CONFIG_HASH_KEY = 'jobmatch-config-hash';
export const SIGNATURE_KEY = 'jobmatch-config-signature';
export const SERIAL_KEY = 'jobmatch-config-serial';
export const KEY_VERSION_KEY = 'jobmatch-config-key-version';
export const SIGNATURE_FORMAT = /^hmac-sha256:[0-9a-f]{64}$/;

const SIGNED_HEADER = 'jobmatch-config-signature v1\n';

/** What is signed: the rollout id exactly as written (with its #redeploy token) and the serial. */
export function signedMessage(rolloutId: string, serial: string): Buffer {
  return Buffer.from(`${SIGNED_HEADER}${rolloutId}\n${serial}\n`);
}

/** hmac-sha256:<hex>, the value of jobmatch-config-signature. The key is the deploy key's bytes. */
export function signature(key: Buffer, rolloutId: string, serial: string): string {
  return `hmac-sha256:${createHmac('sha256', key).update(signedMessage(rolloutId, serial)).digest('hex')}`;
}

export function signatureMatches(key: Buffer, rolloutId: string, serial: string, written: string | undefined): boolean {
  const expected = Buffer.from(signature(key, rolloutId, serial));
  const actual = Buffer.from(written ?? '');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * The next serial: above the one on the VM (so a replay of an older signed config is refused) and at least the
 * time in ms (so metadata wiped by someone else does not restart it below what the agent last applied).
 */
export function nextSerial(previous: string | undefined, nowMs: number): string {
  const before = previous !== undefined && /^[1-9][0-9]{0,17}$/.test(previous) ? BigInt(previous) : 0n;
  const next = before + 1n > BigInt(Math.floor(nowMs)) ? before + 1n : BigInt(Math.floor(nowMs));
  return next.toString();
}

/** The keys a signed push adds to the metadata. */
export function signedKeys(key: Buffer, keyVersion: string, rolloutId: string, serial: string): Record<string, string> {
  return { [SERIAL_KEY]: serial, [KEY_VERSION_KEY]: keyVersion, [SIGNATURE_KEY]: signature(key, rolloutId, serial) };
}
