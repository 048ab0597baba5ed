/** The Secret kind: Secret Manager secrets (containers, generated versions, IAM); values are never read. */
import { secretId } from '../../api/naming.js';
import { generateSecretValue } from './secret-generator.js';
import { MANAGED_KEYS } from '../../plan/diff-orphan.js';
import type { Kind } from '../kind.js';
import { SecretClient } from './secret-client.js';
import { desiredSecrets, diffSecret, type DesiredSecret, type SecretObservation, type SecretStep } from './secret-plan.js';

export const secretKind: Kind<DesiredSecret, SecretObservation, SecretStep> = {
  kind: 'Secret',
  iamPrefix: 'secret',
  readsPerResource: 2,
  desired: desiredSecrets,
  nameFor: (spec, name) => secretId(spec.environment, name),
  diff: diffSecret,
  deleteStep: (r) => ({ kind: 'Secret', op: 'delete', secretId: r.name, etag: r.version ?? '' }),
  releaseStep: (r) => ({
    kind: 'Secret', op: 'patchLabels', secretId: r.name, etag: r.version ?? '',
    labels: Object.fromEntries(Object.entries(r.labels).filter(([k]) => !MANAGED_KEYS.includes(k))),
  }),
  connect: (clients, ctx) => new SecretClient(clients.secrets, ctx, ctx.generateSecret ?? generateSecretValue),
};
