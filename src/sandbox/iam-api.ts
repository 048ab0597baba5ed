/**
 * IAM v1 service accounts (create, get, list, delete, their IAM policy) and IAM Service Account Credentials v1
 * generateAccessToken: a caller holding roles/iam.serviceAccountTokenCreator on a service account (on the account's
 * own policy or on its project's) gets an access token that is that account in every later request (principals.ts).
 */
import { randomBytes } from 'node:crypto';
import { aborted, alreadyExists, ApiError, invalid } from './google-error.js';
import { replacePolicy } from './iam-policy.js';
import { mintAccessToken, revokeAccessTokens } from './principals.js';
import { json, route, type Route, type SandboxRequest } from './router.js';
import { emptyPolicy, isObject, policyBody, randomEtag, type IamPolicy, type Json, type ServiceAccountState, type Store } from './store.js';

export const TOKEN_CREATOR_ROLE = 'roles/iam.serviceAccountTokenCreator';
export const GET_ACCESS_TOKEN_PERMISSION = 'iam.serviceAccounts.getAccessToken';
/** The default lifetime of a minted token, and the longest one (with the lifetime-extension org policy). */
export const DEFAULT_TOKEN_LIFETIME_S = 3600;
export const MAX_TOKEN_LIFETIME_S = 43200;

const ACCOUNT_ID = /^[a-z]([-a-z0-9]*[a-z0-9])$/;
const DELEGATE = /^projects\/-\/serviceAccounts\/([^/]+)$/;
/** A protobuf Duration in JSON: seconds with up to 9 fractional digits, then "s". */
const DURATION = /^(\d+)(?:\.(\d{1,9}))?s$/;

export const serviceAccountEmail = (accountId: string, projectId: string) => `${accountId}@${projectId}.iam.gserviceaccount.com`;

/** A uniqueId as IAM gives them: 21 digits. */
const uniqueId = () => `1${(BigInt(`0x${randomBytes(16).toString('hex')}`) % 10n ** 20n).toString().padStart(20, '0')}`;

const permissionDenied = () => new ApiError(403,
  `Permission '${GET_ACCESS_TOKEN_PERMISSION}' denied on resource (or it may not exist).`, 'forbidden', 'PERMISSION_DENIED', {
    details: [{
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IAM_PERMISSION_DENIED', domain: 'iam.googleapis.com',
      metadata: { permission: GET_ACCESS_TOKEN_PERMISSION },
    }],
  });

const staleEtag = () => aborted('There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.');

/** Does this policy give `member` roles/iam.serviceAccountTokenCreator (unconditionally or not: conditions are not evaluated)? */
function grantsTokenCreator(policy: IamPolicy, member: string): boolean {
  const wanted = member.toLowerCase();
  return policy.bindings.some((b) => b.role === TOKEN_CREATOR_ROLE
    && b.members.some((m) => m === 'allUsers' || m === 'allAuthenticatedUsers' || m.toLowerCase() === wanted));
}

/** The lifetime asked for, in ms: default one hour, at most twelve. */
function lifetimeMs(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_TOKEN_LIFETIME_S * 1000;
  const m = typeof value === 'string' ? DURATION.exec(value) : null;
  if (!m) throw invalid(`Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(value)}`);
  const ms = Number(m[1]) * 1000 + Math.round(Number(`0.${m[2] ?? '0'}`) * 1000);
  if (ms <= 0) throw invalid('The lifetime of the requested token must be positive.');
  if (ms > MAX_TOKEN_LIFETIME_S * 1000) throw invalid(`The lifetime of the requested token exceeds the allowed maximum of ${MAX_TOKEN_LIFETIME_S} seconds.`);
  return ms;
}

export function iamRoutes(store: Store): Route[] {
  /** The account a path names ("-" or any project, then an email or uniqueId), or 404 as the IAM API answers. */
  const account = (req: SandboxRequest): { account: ServiceAccountState; accountId: string; projectId: string } => {
    const found = store.serviceAccount(req.params[1]!);
    if (!found) throw new ApiError(404, 'Unknown service account', 'notFound');
    return { account: found.account, accountId: found.accountId, projectId: found.project.projectId };
  };

  const create = (req: SandboxRequest) => {
    const projectId = req.params[0]!;
    if (projectId === '-') throw invalid('A project id is required to create a service account (not "-").');
    const body = isObject(req.body) ? req.body : {};
    const accountId = body.accountId;
    if (typeof accountId !== 'string' || accountId.length < 6 || accountId.length > 30 || !ACCOUNT_ID.test(accountId)) {
      throw invalid(`Invalid account ID ${JSON.stringify(accountId ?? '')}: it must be 6 to 30 characters long and match [a-z]([-a-z0-9]*[a-z0-9]).`);
    }
    const sa = isObject(body.serviceAccount) ? body.serviceAccount : {};
    for (const field of ['displayName', 'description'] as const) {
      if (sa[field] !== undefined && typeof sa[field] !== 'string') throw invalid(`Invalid value at 'service_account.${field === 'displayName' ? 'display_name' : field}' (TYPE_STRING)`);
    }
    const project = store.project(projectId);
    const accounts = (project.serviceAccounts ??= {});
    if (accounts[accountId]) throw alreadyExists(`Service account ${accountId} already exists within project projects/${project.projectId}.`, 'alreadyExists');
    const email = serviceAccountEmail(accountId, project.projectId);
    const id = uniqueId();
    const resource: Json = {
      name: `projects/${project.projectId}/serviceAccounts/${email}`,
      projectId: project.projectId,
      uniqueId: id,
      email,
      ...(sa.displayName ? { displayName: sa.displayName } : {}),
      ...(sa.description ? { description: sa.description } : {}),
      etag: randomEtag(),
      oauth2ClientId: id,
    };
    accounts[accountId] = { resource, policy: emptyPolicy() };
    return json(resource);
  };

  const list = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const accounts = Object.values(project.serviceAccounts ?? {}).map((a) => a.resource);
    return json(accounts.length > 0 ? { accounts } : {});
  };

  const remove = (req: SandboxRequest) => {
    const { accountId, projectId, account: a } = account(req);
    delete store.project(projectId).serviceAccounts![accountId];
    revokeAccessTokens(store, String(a.resource.email));
    return json({});
  };

  const setPolicy = (req: SandboxRequest) => {
    const { account: a } = account(req);
    replacePolicy(a.policy, isObject(req.body) ? req.body.policy : undefined, staleEtag);
    return json(policyBody(a.policy));
  };

  /** Can `member` mint tokens for this account: token creator on the account, or on its project? */
  const mayMintFor = (member: string, email: string): boolean => {
    const found = store.serviceAccount(email)!;
    return grantsTokenCreator(found.account.policy, member) || grantsTokenCreator(found.project.policy, member);
  };

  const generateAccessToken = (req: SandboxRequest) => {
    const body = isObject(req.body) ? req.body : {};
    const scope = body.scope;
    if (!Array.isArray(scope) || scope.length === 0 || scope.some((s) => typeof s !== 'string' || s === '')) {
      throw invalid('Scope required.');
    }
    const delegates = body.delegates ?? [];
    if (!Array.isArray(delegates) || delegates.some((d) => typeof d !== 'string' || !DELEGATE.test(d))) {
      throw invalid('Invalid form of delegates: each must be projects/-/serviceAccounts/{ACCOUNT_EMAIL_OR_UNIQUEID}.');
    }
    const lifetime = lifetimeMs(body.lifetime);
    const notFound = (who: string) => new ApiError(404, `Not found; Gaia id not found for email ${who}`, 'notFound');
    const target = store.serviceAccount(req.params[1]!);
    if (!target) throw notFound(req.params[1]!);
    // The chain: the caller may mint for the first delegate, each delegate for the next, the last for the target.
    const chain = (delegates as string[]).map((d) => {
      const id = DELEGATE.exec(d)![1]!;
      const found = store.serviceAccount(id);
      if (!found) throw notFound(id);
      return String(found.account.resource.email);
    });
    chain.push(String(target.account.resource.email));
    let member = req.principal;
    for (const email of chain) {
      if (!mayMintFor(member, email)) throw permissionDenied();
      member = `serviceAccount:${email}`;
    }
    const minted = mintAccessToken(store, String(target.account.resource.email), scope as string[], lifetime);
    store.touched();
    return json(minted);
  };

  const base = '/v1/projects/{project}/serviceAccounts';
  const one = `${base}/{account}`;
  return [
    route('POST', base, 'iam', 'serviceAccounts.create', 'write', create),
    route('GET', base, 'iam', 'serviceAccounts.list', 'read', list),
    route('POST', `${one}:getIamPolicy`, 'iam', 'serviceAccounts.getIamPolicy', 'read', (req) => json(policyBody(account(req).account.policy))),
    route('POST', `${one}:setIamPolicy`, 'iam', 'serviceAccounts.setIamPolicy', 'write', setPolicy),
    route('POST', `${one}:generateAccessToken`, 'iamcredentials', 'serviceAccounts.generateAccessToken', 'read', generateAccessToken),
    route('GET', one, 'iam', 'serviceAccounts.get', 'read', (req) => json(account(req).account.resource)),
    route('DELETE', one, 'iam', 'serviceAccounts.delete', 'write', remove),
  ];
}
