/** The per-kind clients of one project, sharing one caller (limits, retries, counts). */
import { BucketClient } from './bucket.js';
import type { GcpClients } from './clients.js';
import { DatasetClient } from './dataset.js';
import type { GcpCaller } from './gcp-caller.js';
import { ProjectPolicyClient } from './project-policy.js';
import { SecretClient } from './secret.js';

export interface Adapters {
  buckets: BucketClient;
  datasets: DatasetClient;
  secrets: SecretClient;
  projectPolicy: ProjectPolicyClient;
}

export function createAdapters(clients: GcpClients, project: string, caller: GcpCaller): Adapters {
  return {
    buckets: new BucketClient(clients.storage, caller),
    datasets: new DatasetClient(clients.bigquery, project, caller),
    secrets: new SecretClient(clients.secrets, project, caller),
    projectPolicy: new ProjectPolicyClient(clients.projects, project, caller),
  };
}
