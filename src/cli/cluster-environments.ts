/**
 * `plan --cluster`: the JobMatchEnvironments in a cluster as the controller sees them — each validated
 * like a file, and with its status.inventory, so bindings the controller would revoke show as `-`.
 */
import * as k8s from '@kubernetes/client-node';
import type { LoadedEnvironment } from '../api/manifests.js';
import { API_VERSION, GROUP } from '../api/types.js';
import { loadKubeConfig } from '../controller/cluster-runner.js';
import { loadObject, objectKey } from '../controller/environment-object.js';
import { withRevocations } from '../controller/inventory.js';
import { toEnvironmentObject } from '../controller/kube-store.js';

export interface ClusterSelection {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  name?: string;
}

export async function environmentsFromCluster(selection: ClusterSelection): Promise<{ environments: LoadedEnvironment[]; errors: string[] }> {
  const kc = loadKubeConfig(selection);
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const params = { group: GROUP, version: API_VERSION.split('/')[1]!, plural: 'jobmatchenvironments' };
  const list = (selection.namespace
    ? await api.listNamespacedCustomObject({ ...params, namespace: selection.namespace })
    : await api.listClusterCustomObject(params)) as { items: k8s.KubernetesObject[] };
  const environments: LoadedEnvironment[] = [];
  const errors: string[] = [];
  for (const object of list.items.map(toEnvironmentObject)) {
    if (selection.name && object.manifest.metadata.name !== selection.name) continue;
    const loaded = loadObject(object);
    if ('errors' in loaded) errors.push(...loaded.errors.map((e) => `${objectKey(object)}: ${e}`));
    else environments.push({ ...loaded.env, spec: withRevocations(loaded.env.spec, object.status?.inventory) });
  }
  if (selection.name && environments.length === 0 && errors.length === 0) errors.push(`no JobMatchEnvironment named ${selection.name}${selection.namespace ? ` in namespace ${selection.namespace}` : ''}`);
  return { environments, errors };
}
