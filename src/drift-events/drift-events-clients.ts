/**
 * The official clients the drift-events set-up talks through: @google-cloud/pubsub (the real service with
 * Application Default Credentials, or a Pub/Sub emulator) and @google-cloud/logging for the sink (the real API, or
 * an emulator such as the sandbox given as a base URL, over REST like the other gax clients in src/gcp/clients.ts).
 * Both packages are imported here only, so commands that do not set up drift events never load them.
 */
import type { Logging } from '@google-cloud/logging';
import type { PubSub } from '@google-cloud/pubsub';
import { commonJs } from '../gcp/common-js.js';
import { createPubSub, emulatorAuth } from '../gcp/pubsub-client.js';

export interface DriftEventsClients {
  pubsub: PubSub;
  logging: Logging;
  /** HOST:PORT of the Pub/Sub emulator in use, or undefined for the real Pub/Sub. */
  pubsubEmulator?: string;
  close(): Promise<void>;
}

export interface DriftEventsClientOptions {
  projectId: string;
  /** Base URL of a local Logging emulator (the sandbox); undefined for the real API. */
  gcpEndpoint?: string;
  /** HOST:PORT of a Pub/Sub emulator (PUBSUB_EMULATOR_HOST); undefined for the real Pub/Sub. */
  pubsubEmulator?: string;
}

/** Pub/Sub and Logging clients for one project: real (ADC) or emulated, each on its own. */
export async function createDriftEventsClients({ projectId, gcpEndpoint, pubsubEmulator }: DriftEventsClientOptions): Promise<DriftEventsClients> {
  const [pubsub, { Logging }] = await Promise.all([createPubSub(projectId, pubsubEmulator), import('@google-cloud/logging').then(commonJs)]);
  let logging: Logging;
  if (gcpEndpoint) {
    const url = new URL(gcpEndpoint);
    const options: Record<string, unknown> = {
      projectId,
      fallback: true,
      apiEndpoint: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      protocol: url.protocol.replace(':', ''),
      authClient: emulatorAuth(),
    };
    logging = new Logging(options as ConstructorParameters<typeof Logging>[0]);
  } else {
    logging = new Logging({ projectId, fallback: true } as ConstructorParameters<typeof Logging>[0]);
  }
  return {
    pubsub,
    logging,
    ...(pubsubEmulator ? { pubsubEmulator } : {}),
    close: async () => {
      await pubsub.close();
      await Promise.all([logging.configService.close(), logging.loggingService.close()]);
    },
  };
}
