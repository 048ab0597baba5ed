/**
 * Who may read a secret's value: the sandbox enforces secretmanager.versions.access for the callers it can tell
 * apart (a VM's or an impersonated service account's minted token), as Google does, so a test proves that a VM
 * reads only what its service account was granted. The operator's own calls are never refused (principals.ts).
 */
import { ApiError } from './google-error.js';
import { OPERATOR_PRINCIPAL } from './principals.js';
import type { IamPolicy } from './store.js';

/** Predefined roles holding secretmanager.versions.access. */
const ACCESS_ROLES = new Set(['roles/secretmanager.secretAccessor', 'roles/secretmanager.admin', 'roles/owner', 'roles/editor']);

const grants = (policy: IamPolicy, principal: string) =>
  policy.bindings.some((b) => ACCESS_ROLES.has(b.role) && !b.condition && b.members.some((m) => m.toLowerCase() === principal.toLowerCase()));

/** Throws Google's 403 unless the principal may access the secret's versions (on the secret or its project). */
export function checkSecretAccess(principal: string, resource: string, secretPolicy: IamPolicy, projectPolicy: IamPolicy): void {
  if (principal === OPERATOR_PRINCIPAL || grants(secretPolicy, principal) || grants(projectPolicy, principal)) return;
  throw new ApiError(403, `Permission 'secretmanager.versions.access' denied for resource '${resource}' (or it may not exist).`, 'forbidden', 'PERMISSION_DENIED');
}
