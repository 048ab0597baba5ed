/**
 * Acting as a tenant's service account (Config Connector's namespaced mode): access tokens minted by the IAM
 * Credentials API's generateAccessToken through google-auth-library's Impersonated client, which caches each
 * until shortly before it expires. The operator's own identity needs only roles/iam.serviceAccountTokenCreator
 * on the tenants' service accounts.
 */
import { GoogleAuth, Impersonated, OAuth2Client, type AuthClient } from 'google-auth-library';

const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
const TOKEN_LIFETIME_SECONDS = 3600;

/**
 * Where impersonation starts from: Application Default Credentials against Google; against an emulator (the
 * sandbox), a static token, which the emulator takes as the operator itself.
 */
export async function sourceCredential(endpoint: string | undefined): Promise<AuthClient> {
  if (!endpoint) return new GoogleAuth({ scopes: SCOPES }).getClient();
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'jobmatch-operator', expiry_date: Date.now() + 365 * 86_400_000 });
  return client;
}

/** A client whose requests carry `serviceAccount`'s tokens; every token request is bounded by `timeoutMs`. */
export function impersonatedClient(source: AuthClient, serviceAccount: string, endpoint: string | undefined, timeoutMs: number): Impersonated {
  const client = new Impersonated({
    sourceClient: source, targetPrincipal: serviceAccount, targetScopes: SCOPES, lifetime: TOKEN_LIFETIME_SECONDS, delegates: [],
    ...(endpoint ? { endpoint: endpoint.replace(/\/+$/, '') } : {}),
  });
  // The library mints a token per request that finds none (a first wave of 30 reads: 30 tokens): one at a time.
  const refresh = client as unknown as { refreshToken: (...args: unknown[]) => Promise<unknown> };
  const mint = refresh.refreshToken.bind(client);
  let minting: Promise<unknown> | undefined;
  refresh.refreshToken = (...args) => (minting ??= mint(...args).finally(() => (minting = undefined)));
  // generateAccessToken goes through the source client's transport: bound it like every other call.
  const transporter = (source as unknown as { transporter?: { defaults?: Record<string, unknown> } }).transporter;
  if (transporter) transporter.defaults = { ...transporter.defaults, timeout: timeoutMs };
  return client;
}

/**
 * Cloud Storage's own google-auth-library (9) takes request headers as a plain object, and sends none from a
 * version-10 client (whose headers are a Headers object): this hands it the impersonated token its way.
 */
export function storageAuthClient(client: Impersonated): { getRequestHeaders(): Promise<Record<string, string>>; getProjectId?(): Promise<string> } {
  return {
    getRequestHeaders: async () => {
      const { token } = await client.getAccessToken();
      if (!token) throw new Error(`no access token for ${client.getTargetPrincipal()}`);
      return { Authorization: `Bearer ${token}` };
    },
  };
}
