/**
 * `plan --cluster`: the JobMatchEnvironments in a cluster as the controller sees them — each validated
 * like a file, and with its status.inventory, so bindings the controller would revoke show as `-`.
 */
import * as k8s from '@kubernetes/client-node';
import type { LoadedEnvironment } from '../api/manifests.js';
import { DEFAULT_OPERATOR_CONFIG, type OperatorConfig } from '../api/operator-config.js';
import { decideTenancy, needsNamespaceLabels, tenancyRequest } from '../api/tenancy.js';
import { API_VERSION, GROUP } from '../api/types.js';
import { loadKubeConfig } from '../controller/cluster-runner.js';
import { loadObject, objectKey } from '../controller/environment-object.js';
import { withRevocations } from '../controller/inventory.js';
import { listWatchProblem, toEnvironmentObject } from '../controller/kube-store.js';

export interface ClusterSelection {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  name?: string;
}

/** The cluster's environments as the controller would reconcile them, under the operator's configuration (IAM policy and tenants). */
export async function environmentsFromCluster(selection: ClusterSelection, config: OperatorConfig = DEFAULT_OPERATOR_CONFIG): Promise<{ environments: LoadedEnvironment[]; errors: string[] }> {
  const kc = loadKubeConfig(selection);
  const namespaces = await namespaceLabels(kc, config);
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const params = { group: GROUP, version: API_VERSION.split('/')[1]!, plural: 'jobmatchenvironments' };
  const list = await (selection.namespace
    ? api.listNamespacedCustomObject({ ...params, namespace: selection.namespace })
    : api.listClusterCustomObject(params)).catch((e: unknown) => {
    // The controller's words for it (the CRD missing, the verb RBAC does not grant), not the client's dump.
    throw new Error(listWatchProblem('list', e, selection.namespace));
  }) as { items: k8s.KubernetesObject[] };
  const environments: LoadedEnvironment[] = [];
  const errors: string[] = [];
  for (const object of list.items.map(toEnvironmentObject)) {
    if (selection.name && object.manifest.metadata.name !== selection.name) continue;
    const loaded = loadObject(object, { iamPolicy: config.iamPolicy });
    if ('errors' in loaded) {
      errors.push(...loaded.errors.map((e) => `${objectKey(object)}: ${loaded.policyViolation ? 'PolicyViolation: ' : ''}${e}`));
      continue;
    }
    const namespace = loaded.env.namespace;
    const tenancy = decideTenancy(config.tenants, { name: namespace, ...(namespaces.get(namespace) ? { labels: namespaces.get(namespace)! } : {}) }, tenancyRequest(loaded.env.spec));
    if (!tenancy.allowed) errors.push(`${objectKey(object)}: ${tenancy.reason}: ${tenancy.message}`);
    else environments.push({ ...loaded.env, spec: withRevocations(loaded.env.spec, object.status?.inventory) });
  }
  if (selection.name && environments.length === 0 && errors.length === 0) errors.push(`no JobMatchEnvironment named ${selection.name}${selection.namespace ? ` in namespace ${selection.namespace}` : ''}`);
  return { environments, errors };
}

/** Namespaces' labels, read only when a tenant selects namespaces by label. */
async function namespaceLabels(kc: k8s.KubeConfig, config: OperatorConfig): Promise<Map<string, Record<string, string>>> {
  if (!needsNamespaceLabels(config.tenants)) return new Map();
  const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
  return new Map(list.items.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
}
