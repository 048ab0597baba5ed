/** Resource Manager v1 and v3: the project and its IAM policy. */
import { aborted } from './google-error.js';
import { replacePolicy } from './iam-policy.js';
import { json, route, type Route, type SandboxRequest } from './router.js';
import { policyBody, type Json, type Store } from './store.js';

export function resourceManagerRoutes(store: Store): Route[] {
  const getPolicy = (req: SandboxRequest) => json(policyBody(store.project(req.params[0]!).policy));
  const setPolicy = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Json;
    replacePolicy(project.policy, body.policy,
      () => aborted('There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.'));
    return json(policyBody(project.policy));
  };
  const v3Project = (req: SandboxRequest) => {
    const p = store.project(req.params[0]!);
    return json({ name: `projects/${p.projectNumber}`, projectId: p.projectId, state: 'ACTIVE', displayName: p.projectId, parent: '', etag: 'W/"1"' });
  };
  const v1Project = (req: SandboxRequest) => {
    const p = store.project(req.params[0]!);
    return json({ projectNumber: p.projectNumber, projectId: p.projectId, lifecycleState: 'ACTIVE', name: p.projectId });
  };
  return ['v1', 'v3'].flatMap((v) => [
    route('POST', `/${v}/projects/{project}:getIamPolicy`, 'resourcemanager', 'projects.getIamPolicy', 'read', getPolicy),
    route('POST', `/${v}/projects/{project}:setIamPolicy`, 'resourcemanager', 'projects.setIamPolicy', 'write', setPolicy),
    route('GET', `/${v}/projects/{project}`, 'resourcemanager', 'projects.get', 'read', v === 'v1' ? v1Project : v3Project),
  ]);
}
