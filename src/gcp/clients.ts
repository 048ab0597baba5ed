/**
 * The official Google clients, built once per process. With an endpoint (the sandbox) every client
 * talks plain HTTP/1.1 JSON to it and needs no credentials; without one they use the real APIs and
 * Application Default Credentials. Client-side retries are off: retries are ours, bounded and counted.
 */
import { generateKeyPairSync } from 'node:crypto';
import { BigQuery } from '@google-cloud/bigquery';
import { ProjectsClient } from '@google-cloud/resource-manager';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { Storage } from '@google-cloud/storage';

export interface GcpClients {
  storage: Storage;
  bigquery: BigQuery;
  secrets: SecretManagerServiceClient;
  projects: ProjectsClient;
}

export interface GcpClientOptions {
  projectId: string;
  /** Base URL of a local emulator such as the sandbox (http://127.0.0.1:4443); undefined for the real APIs. */
  endpoint?: string;
}

let localKey: string | undefined;

/** A throwaway key: the gax clients insist on credentials, and a self-signed JWT needs no token server. */
function localCredentials() {
  localKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { client_email: 'jobmatch-operator@sandbox.iam.gserviceaccount.com', private_key: localKey };
}

/** How a gax (GAPIC) client reaches an emulator: REST fallback, plain HTTP, host and port apart. */
export function gaxEndpoint(endpoint: string) {
  const url = new URL(endpoint);
  return {
    fallback: true,
    apiEndpoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol.replace(':', ''),
    credentials: localCredentials(),
  };
}

export function createGcpClients({ projectId, endpoint }: GcpClientOptions): GcpClients {
  if (!endpoint) {
    return {
      storage: new Storage({ projectId, retryOptions: { autoRetry: false } }),
      bigquery: new BigQuery({ projectId, autoRetry: false }),
      secrets: new SecretManagerServiceClient({ fallback: true }),
      projects: new ProjectsClient({ fallback: true }),
    };
  }
  const base = endpoint.replace(/\/+$/, '');
  const gax = gaxEndpoint(base);
  const bigquery = new BigQuery({ projectId, apiEndpoint: base, autoRetry: false, credentials: localCredentials() });
  // BigQuery does not turn on self-signed JWTs by itself and would ask a token server.
  (bigquery.authClient as unknown as { useJWTAccessWithScope: boolean }).useJWTAccessWithScope = true;
  return {
    storage: new Storage({ projectId, apiEndpoint: base, retryOptions: { autoRetry: false } }),
    bigquery,
    secrets: new SecretManagerServiceClient(gax),
    projects: new ProjectsClient(gax),
  };
}
