/** One environment's connection to GCP: every kind's client and the project's, sharing one caller and the run's AbortSignal. */
import type { RolloutPolling } from '../kinds/deployment/deployment-client.js';
import type { Kind, KindClient } from '../kinds/kind.js';
import type { SecretValue } from '../api/secret-value.js';
import type { GcpClients } from '../gcp/clients.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import { ProjectClient } from '../gcp/project-policy.js';
import type { PolicyObservation } from '../plan/observed.js';
import type { BindingRef, KindStep, PolicyTarget } from '../plan/types.js';

export interface Connection {
  kinds: readonly Kind[];
  project: ProjectClient;
  client(kind: string): KindClient;
  /** The project's number, read once per set of clients (it never changes). */
  projectNumber(): Promise<string>;
  execute(step: KindStep): Promise<void>;
  readPolicy(target: PolicyTarget): Promise<PolicyObservation | undefined>;
  commitPolicy(target: PolicyTarget, base: PolicyObservation, add: BindingRef[], remove: BindingRef[]): Promise<void>;
}

export interface ConnectOptions {
  signal?: AbortSignal;
  generateSecret?: (length: number) => SecretValue;
  rolloutPolling?: RolloutPolling;
}

export function connect(kinds: readonly Kind[], clients: GcpClients, projectId: string, caller: GcpCaller, options: ConnectOptions = {}): Connection {
  const ctx = { caller, project: projectId, ...options };
  const byKind = new Map(kinds.map((k) => [k.kind as string, k.connect(clients, ctx)]));
  const project = new ProjectClient(clients.projects, projectId, caller, options.signal);
  const client = (kind: string) => {
    const c = byKind.get(kind);
    if (!c) throw new Error(`no client for kind ${kind}`);
    return c;
  };
  return {
    kinds, project, client,
    projectNumber: () => {
      const cached = clients.projectNumber ??= project.projectNumber();
      cached.catch(() => (clients.projectNumber = undefined));
      return cached;
    },
    execute: (step) => client(step.kind).execute(step),
    readPolicy: (target) => (target.kind === 'Project' ? project.readPolicy() : client(target.kind).readPolicy(target.name)),
    commitPolicy: (target, base, add, remove) => (target.kind === 'Project' ? project.commitPolicy(base, add, remove) : client(target.kind).commitPolicy(target.name, base, add, remove)),
  };
}
