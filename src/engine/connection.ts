/** One environment's connection to GCP: every kind's client and the project's, sharing one caller and the run's AbortSignal. */
import type { RolloutPolling } from '../kinds/deployment/deployment-client.js';
import type { Kind, KindClient } from '../kinds/kind.js';
import type { SecretValue } from '../api/secret-value.js';
import type { GcpClients } from '../gcp/clients.js';
import type { GcpCaller } from '../gcp/gcp-caller.js';
import { ProjectClient } from '../gcp/project-policy.js';
import { DEFAULT_IAM_POLICY, policyRefusal, type IamPolicy, type PolicyKind } from '../api/iam-policy.js';
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
  /** Checked again right before every IAM write; the safe defaults when absent. */
  iamPolicy?: IamPolicy;
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
  const policy = options.iamPolicy ?? DEFAULT_IAM_POLICY;
  /** Defence in depth: whatever planned it (a saved plan, a bug), a write the IAM policy refuses is never sent. */
  const checkPolicy = (kind: PolicyKind, add: readonly BindingRef[], remove: readonly BindingRef[]) => {
    for (const [bindings, ensure] of [[add, 'present'], [remove, 'absent']] as const) {
      for (const b of bindings) {
        const refusal = policyRefusal({ ...b, ensure }, kind, policy);
        if (refusal) throw new IamPolicyRefusal(`refused by the operator's IAM policy (${refusal.code}): ${refusal.message}; nothing was written`);
      }
    }
  };
  const policyKind = (target: PolicyTarget) => (target.kind === 'Project' ? 'project' : kinds.find((k) => k.kind === target.kind)?.iamPrefix) as PolicyKind;
  return {
    kinds, project, client,
    projectNumber: () => {
      const cached = clients.projectNumber ??= project.projectNumber();
      cached.catch(() => (clients.projectNumber = undefined));
      return cached;
    },
    execute: async (step) => {
      const kind = kinds.find((k) => k.kind === step.kind);
      if (kind?.grantsOf) checkPolicy(kind.iamPrefix as PolicyKind, kind.grantsOf(step), []);
      await client(step.kind).execute(step);
    },
    readPolicy: (target) => (target.kind === 'Project' ? project.readPolicy() : client(target.kind).readPolicy(target.name)),
    commitPolicy: async (target, base, add, remove) => {
      checkPolicy(policyKind(target), add, remove);
      await (target.kind === 'Project' ? project.commitPolicy(base, add, remove) : client(target.kind).commitPolicy(target.name, base, add, remove));
    },
  };
}

/** An IAM write the operator's policy refuses: never sent. */
export class IamPolicyRefusal extends Error {}
