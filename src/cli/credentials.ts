/** Fail fast, in one line, when no Google credentials can be found (no --gcp-endpoint, no Application Default Credentials). */
import { Storage } from '@google-cloud/storage';

/** Resolves when Application Default Credentials are available; rejects with the auth library's reason otherwise. */
export async function preflightCredentials(): Promise<void> {
  await new Storage().authClient.getClient();
}

export function missingCredentials(e: unknown): string {
  const reason = ((e as Error)?.message ?? String(e)).split('\n')[0];
  return 'no Google credentials found. Fix one of: run `gcloud auth application-default login`; '
    + 'or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file; '
    + `or pass --gcp-endpoint http://127.0.0.1:4443 to use the local sandbox (jobmatch-operator sandbox). (${reason})`;
}
