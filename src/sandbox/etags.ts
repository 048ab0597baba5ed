/**
 * Etags and fingerprints that Google's APIs type as `bytes` (Compute's metadata and label fingerprints, every IAM
 * Policy.etag). A client may send them back in another base64 spelling than it read: gcloud's apitools decodes every
 * `bytes` field and re-encodes it URL-safe, and ProtoJSON accepts standard or URL-safe base64, padded or not. So they
 * are compared as the bytes they encode, and a value that is not base64 at all is refused (400) before any comparison.
 * String etags (a Secret's, a SecretVersion's, a BigQuery dataset's) are opaque strings on Google's side too: compared as such.
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from './google-error.js';

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

const toUrlSafe = (base64: string) => base64.replace(/\+/g, '-').replace(/\//g, '_');

/** The bytes a base64 value encodes, in either alphabet, padded or not; undefined when it is not base64. */
export function base64Bytes(value: string): Buffer | undefined {
  if (!STANDARD.test(value) && !URL_SAFE.test(value)) return undefined;
  const digits = value.replace(/=+$/, '');
  if (digits.length !== value.length && value.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(digits.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  // The bytes must spell the value back: no dangling sixth-of-a-byte, no stray bits after the last byte.
  return bytes.toString('base64url') === toUrlSafe(digits) ? bytes : undefined;
}

/**
 * Does the etag a client sent name the same bytes as the current one? One that is not base64 is refused with
 * `notBase64(sent)`: Google fails to decode it before it compares anything, so it is a 400, not a stale etag.
 */
export function sameEtagBytes(sent: string, current: string, notBase64: (value: string) => ApiError): boolean {
  const sentBytes = base64Bytes(sent);
  if (sentBytes === undefined) throw notBase64(sent);
  const currentBytes = base64Bytes(current);
  return currentBytes !== undefined && sentBytes.equals(currentBytes);
}

/** The 400 of a gRPC-transcoded API (IAM, Resource Manager, Secret Manager) for a `bytes` field that is not base64. */
export const notBase64Field = (field: string) => (value: string): ApiError => {
  const message = `Invalid value at '${field}' (TYPE_BYTES), Base64 decoding failed for "${value}"`;
  return new ApiError(400, message, 'badRequest', 'INVALID_ARGUMENT', {
    details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description: message }] }],
  });
};

/** A fresh Compute fingerprint, spelled as Compute spells them: 8 bytes, URL-safe base64 with padding ("-goaeN2SGek="). */
export const randomFingerprint = () => toUrlSafe(randomBytes(8).toString('base64'));
