/** The per-kind clients of one project, sharing one caller (limits, retries, counts) and the run's AbortSignal. */
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
  /** The project's number, read once per set of clients (it never changes). */
  projectNumber: () => Promise<string>;
}

export function createAdapters(clients: GcpClients, project: string, caller: GcpCaller, signal?: AbortSignal): Adapters {
  const projectPolicy = new ProjectPolicyClient(clients.projects, project, caller, signal);
  return {
    buckets: new BucketClient(clients.storage, caller, signal),
    datasets: new DatasetClient(clients.bigquery, project, caller, signal),
    secrets: new SecretClient(clients.secrets, project, caller, signal),
    projectPolicy,
    projectNumber: () => {
      const cached = clients.projectNumber ??= projectPolicy.projectNumber();
      cached.catch(() => (clients.projectNumber = undefined));
      return cached;
    },
  };
}
