/** The Deployment kind: the app's config on the environment's VM, rolled out through its metadata to the VM agent. */
import type { Kind } from '../kind.js';
import { DEFAULT_ROLLOUT_POLLING, DeploymentClient } from './deployment-client.js';
import { desiredDeployments, diffDeployment, type DesiredDeployment, type DeploymentObservation, type DeploymentStep } from './deployment-plan.js';

const notOurs = (): never => {
  throw new Error('a VM is never deleted or released by the operator');
};

export const deploymentKind: Kind<DesiredDeployment, DeploymentObservation, DeploymentStep> = {
  kind: 'Deployment',
  iamPrefix: 'vm',
  external: true,
  readsSecretsAtStart: true,
  readsPerResource: 2,
  desired: desiredDeployments,
  nameFor: (_spec, name) => name,
  diff: diffDeployment,
  deleteStep: notOurs,
  releaseStep: notOurs,
  connect: (clients, ctx) => new DeploymentClient(clients.compute, clients.secrets, ctx, ctx.rolloutPolling ?? DEFAULT_ROLLOUT_POLLING),
};
