/**
 * The Compute Engine clients, loaded only when used: @google-cloud/compute costs about a second and
 * 100 MB of heap to import, which environments without a VM never need.
 */
import type { InstancesClient, ZoneOperationsClient } from '@google-cloud/compute';
import type { Impersonated } from 'google-auth-library';
import { abortableFetches, gaxEndpoint, withAuthClient } from './clients.js';
import { commonJs } from './common-js.js';

export interface ComputeClients {
  instances: InstancesClient;
  zoneOperations: ZoneOperationsClient;
}

export async function createComputeClients(endpoint?: string, userAgent?: string, authClient?: Impersonated): Promise<ComputeClients> {
  // The two clients by their own modules: the package's index loads every Compute client (4 MB of code).
  const [{ InstancesClient }, { ZoneOperationsClient }] = await Promise.all([
    import('@google-cloud/compute/build/src/v1/instances_client.js').then(commonJs),
    import('@google-cloud/compute/build/src/v1/zone_operations_client.js').then(commonJs),
  ]);
  const options = withAuthClient(endpoint ? gaxEndpoint(endpoint.replace(/\/+$/, '')) : { fallback: true }, authClient);
  const clients = { instances: new InstancesClient(options), zoneOperations: new ZoneOperationsClient(options) };
  for (const client of Object.values(clients)) {
    // Compute does not turn on self-signed JWTs by itself and would ask a token server.
    if (endpoint && !authClient) (client.auth as unknown as { useJWTAccessWithScope: boolean }).useJWTAccessWithScope = true;
    abortableFetches(client as unknown as Parameters<typeof abortableFetches>[0], userAgent);
  }
  return clients as unknown as ComputeClients;
}
