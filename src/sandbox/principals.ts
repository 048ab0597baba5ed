/**
 * Who makes a request. The sandbox verifies no signature: a bearer token it minted itself (IAM Credentials'
 * generateAccessToken, prefix MINTED_TOKEN_PREFIX) is the service account it was minted for; anything else
 * (no Authorization, the operator's self-signed JWT, a static token, the metadata server's token) is the operator.
 * A minted-looking token the sandbox does not know, or knows as expired, or whose service account is gone, is
 * refused 401 UNAUTHENTICATED as Google refuses an invalid token; other tokens are never refused.
 */
import { randomBytes } from 'node:crypto';
import { ApiError } from './google-error.js';
import type { Store } from './store.js';

/** The operator's own service account: the client_email of its local credentials (src/gcp/clients.ts). */
export const OPERATOR_EMAIL = 'jobmatch-operator@sandbox.iam.gserviceaccount.com';
/** The operator as an IAM member: every request not carrying a minted token is made by it. */
export const OPERATOR_PRINCIPAL = `serviceAccount:${OPERATOR_EMAIL}`;
/** Every token generateAccessToken mints starts so (real ones start "ya29."); only these are looked up. */
export const MINTED_TOKEN_PREFIX = 'ya29.sandbox.';
/** A VM's metadata server mints these for the instance's service account, which need not exist in the sandbox's IAM. */
const INSTANCE_TOKEN_PREFIX = `${MINTED_TOKEN_PREFIX}vm.`;

export type Caller =
  /** principal: an IAM member ("serviceAccount:EMAIL"); email: the service account of a minted token. */
  | { principal: string; email?: string }
  /** A minted-looking token refused: unknown (or its service account deleted), or expired. */
  | { refused: 'unknown' | 'expired' };

const bearer = (authorization: string | string[] | undefined): string | undefined => {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  const m = value ? /^\s*bearer\s+(\S+)\s*$/i.exec(value) : null;
  return m?.[1];
};

/** The caller of a request, from its Authorization header, on the sandbox's clock. */
export function identifyCaller(store: Store, authorization: string | string[] | undefined): Caller {
  const token = bearer(authorization);
  if (!token?.startsWith(MINTED_TOKEN_PREFIX)) return { principal: OPERATOR_PRINCIPAL };
  const minted = store.data.accessTokens?.[token];
  if (!minted || (!token.startsWith(INSTANCE_TOKEN_PREFIX) && !store.serviceAccount(minted.email))) return { refused: 'unknown' };
  if (Date.parse(minted.expireTime) <= store.now().getTime()) return { refused: 'expired' };
  return { principal: `serviceAccount:${minted.email}`, email: minted.email };
}

/** Google's answer to an invalid or expired bearer token (reason ACCESS_TOKEN_EXPIRED in an ErrorInfo for an expired one). */
export function unauthenticated(refused: 'unknown' | 'expired', service: string): ApiError {
  return new ApiError(401,
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. '
    + 'See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    'authError', 'UNAUTHENTICATED', {
      headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      ...(refused === 'expired'
        ? { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_EXPIRED', domain: 'googleapis.com', metadata: { service } }] }
        : {}),
    });
}

/** Mints an access token for a service account, valid for lifetimeMs on the sandbox's clock; forgets the expired ones. */
export function mintAccessToken(store: Store, email: string, scopes: string[], lifetimeMs: number, forInstance = false): { accessToken: string; expireTime: string } {
  const now = store.now().getTime();
  const tokens = (store.data.accessTokens ??= {});
  for (const [token, t] of Object.entries(tokens)) if (Date.parse(t.expireTime) <= now) delete tokens[token];
  // Whole seconds, as Google writes expireTime, unless the lifetime asked for has a fraction.
  const expires = lifetimeMs % 1000 === 0 ? Math.floor((now + lifetimeMs) / 1000) * 1000 : now + lifetimeMs;
  const expireTime = new Date(expires).toISOString().replace(/\.000Z$/, 'Z');
  const accessToken = `${forInstance ? INSTANCE_TOKEN_PREFIX : MINTED_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  tokens[accessToken] = { email, scopes, expireTime };
  return { accessToken, expireTime };
}

/** Forgets every token minted for a service account (it was deleted). */
export function revokeAccessTokens(store: Store, email: string): void {
  const tokens = store.data.accessTokens ?? {};
  for (const [token, t] of Object.entries(tokens)) if (t.email.toLowerCase() === email.toLowerCase()) delete tokens[token];
}
