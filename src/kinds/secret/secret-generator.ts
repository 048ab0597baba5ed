/** Generated secret values, from the CSPRNG, wrapped so they print as [redacted]. */
import { randomBytes } from 'node:crypto';
import { SecretValue } from '../../api/secret-value.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 64 symbols: every byte maps to one uniformly (256 is a multiple of 64). */
export function generateSecretValue(length: number): SecretValue {
  const bytes = randomBytes(length);
  let value = '';
  for (const b of bytes) value += ALPHABET[b & 63];
  bytes.fill(0);
  return new SecretValue(value);
}
