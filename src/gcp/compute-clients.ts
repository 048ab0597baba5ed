/**
 * The Compute Engine clients, loaded only when used: @google-cloud/compute costs about a second and
 * 100 MB of heap to import, which `validate`, `plan` and `apply` of buckets, datasets and secrets never need.
 */
import type { InstancesClient, ZoneOperationsClient } from '@google-cloud/compute';
import { gaxEndpoint } from './clients.js';

export interface ComputeClients {
  instances: InstancesClient;
  zoneOperations: ZoneOperationsClient;
}

export async function createComputeClients(endpoint?: string): Promise<ComputeClients> {
  const { InstancesClient, ZoneOperationsClient } = await import('@google-cloud/compute');
  if (!endpoint) return { instances: new InstancesClient(), zoneOperations: new ZoneOperationsClient() };
  const gax = gaxEndpoint(endpoint.replace(/\/+$/, ''));
  const clients = { instances: new InstancesClient(gax), zoneOperations: new ZoneOperationsClient(gax) };
  // Compute does not turn on self-signed JWTs by itself and would ask a token server.
  for (const client of Object.values(clients)) (client.auth as unknown as { useJWTAccessWithScope: boolean }).useJWTAccessWithScope = true;
  return clients;
}
