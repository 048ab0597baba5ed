/**
 * @google-cloud/pubsub, imported only when drift events are on: the real service with Application Default
 * Credentials, or an emulator (HOST:PORT, as PUBSUB_EMULATOR_HOST) with a fixed token it never checks.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { OAuth2Client } from 'google-auth-library';
import { commonJs } from './common-js.js';

/**
 * A fixed bearer token for emulators, which check none. Given as the auth client it also keeps the libraries from
 * looking for Application Default Credentials (a metadata-server probe and a warning) and from warning about the
 * deprecated `credentials` option. (pubsub and logging bring google-auth-library 11, whose types this 10 does not
 * satisfy; at run time they only ask it for request headers.)
 */
export function emulatorAuth(): unknown {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'emulator', expiry_date: Date.now() + 365 * 86400_000 });
  return client;
}

/** gRPC's reconnect backoff after an outage; its default grows to two minutes. */
export interface Reconnect {
  initialMs: number;
  maxMs: number;
}

/** Within seconds once Pub/Sub is back. */
const RECONNECT: Reconnect = { initialMs: 500, maxMs: 5000 };

export async function createPubSub(projectId: string, emulator?: string, reconnect: Reconnect = RECONNECT): Promise<PubSub> {
  const { PubSub } = commonJs(await import('@google-cloud/pubsub'));
  const backoff = { 'grpc.initial_reconnect_backoff_ms': reconnect.initialMs, 'grpc.max_reconnect_backoff_ms': reconnect.maxMs };
  const options = emulator ? { projectId, apiEndpoint: emulator, emulatorMode: true, authClient: emulatorAuth(), ...backoff } : { projectId, ...backoff };
  return new PubSub(options as unknown as ConstructorParameters<typeof PubSub>[0]);
}

/** projects/P/subscriptions/S → P; undefined when malformed. */
export function subscriptionProject(name: string): string | undefined {
  return /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/subscriptions\/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/.exec(name)?.[1];
}
