/**
 * @google-cloud/pubsub, imported only when drift events are on: the real service with Application Default
 * Credentials, or an emulator (HOST:PORT, as PUBSUB_EMULATOR_HOST) with a fixed token it never checks.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { OAuth2Client } from 'google-auth-library';

/** A fixed bearer token for emulators: keeps the library from looking for credentials (a metadata-server probe and a warning). */
export function emulatorAuth(): unknown {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'emulator', expiry_date: Date.now() + 365 * 86400_000 });
  return client;
}

/** After an outage, reconnect within seconds rather than grpc's default backoff of up to two minutes. */
const RECONNECT = { 'grpc.initial_reconnect_backoff_ms': 500, 'grpc.max_reconnect_backoff_ms': 5000 };

export async function createPubSub(projectId: string, emulator?: string): Promise<PubSub> {
  // The bundle (esbuild) gives this CommonJS package's exports under `default`.
  const loaded = await import('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub') & { default?: typeof import('@google-cloud/pubsub') };
  const { PubSub } = loaded.PubSub ? loaded : loaded.default!;
  const options = emulator ? { projectId, apiEndpoint: emulator, emulatorMode: true, authClient: emulatorAuth(), ...RECONNECT } : { projectId, ...RECONNECT };
  return new PubSub(options as unknown as ConstructorParameters<typeof PubSub>[0]);
}

/** projects/P/subscriptions/S → P; undefined when malformed. */
export function subscriptionProject(name: string): string | undefined {
  return /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/subscriptions\/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/.exec(name)?.[1];
}
