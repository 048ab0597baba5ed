/** Compute Engine v1: instances (insert/get/list/delete, setMetadata with fingerprints, getGuestAttributes) and zone operations. */
import { randomFingerprint, sameEtagBytes } from './etags.js';
import { ApiError, conditionNotMet, invalid, notFound } from './google-error.js';
import { json, route, type Route, type SandboxRequest } from './router.js';
import { randomEtag, type InstanceState, type Json, type ProjectState, type Store, isObject } from './store.js';

const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ZONE = /^[a-z]+-[a-z]+[0-9]+-[a-z]$/;

/** Compute's 400 for a fingerprint that is not base64, in its "Invalid value for field" grammar (the tail is the sandbox's). */
const notBase64 = (field: string) => (value: string) => invalid(`Invalid value for field '${field}': '${value}'. The fingerprint must be base64.`);

export const metadataEvent = (project: ProjectState, zone: string, name: string) => `metadata:${project.projectId}/${zone}/${name}`;

/** Metadata items after validation: keys unique and well-formed, values strings up to 256 KB. */
export function checkMetadataItems(items: unknown): { key: string; value: string }[] {
  if (items === undefined) return [];
  if (!Array.isArray(items)) throw invalid('Invalid value for field \'metadata.items\'');
  const seen = new Set<string>();
  return items.map((item: unknown) => {
    if (!isObject(item) || typeof item.key !== 'string' || !/^[a-zA-Z0-9_-]{1,128}$/.test(item.key)) {
      throw invalid(`Invalid value for field 'metadata.items.key': ${JSON.stringify(isObject(item) ? item.key : item)}`);
    }
    if (seen.has(item.key)) throw invalid(`Duplicate metadata key: ${item.key}`);
    seen.add(item.key);
    const value = item.value === undefined ? '' : item.value;
    if (typeof value !== 'string' || Buffer.byteLength(value) > 256 * 1024) throw invalid(`Invalid value for metadata key ${item.key}`);
    return { key: item.key, value };
  });
}

export function computeRoutes(store: Store): Route[] {
  const zoneUrl = (req: SandboxRequest, project: ProjectState, zone: string) => `${req.baseUrl}/compute/v1/projects/${project.projectId}/zones/${zone}`;

  const instance = (req: SandboxRequest): { project: ProjectState; zone: string; inst: InstanceState } => {
    const [projectId, zone, name] = req.params as [string, string, string];
    const project = store.project(projectId);
    const inst = project.instances[`${zone}/${name}`];
    if (!inst) throw notFound(`The resource 'projects/${projectId}/zones/${zone}/instances/${name}' was not found`);
    return { project, zone, inst };
  };

  const operation = (req: SandboxRequest, project: ProjectState, zone: string, type: string, target: Json) => {
    const id = store.nextId();
    const now = store.now().toISOString();
    const name = `operation-${store.now().getTime()}-${randomEtag().replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 8)}-${id}`;
    const op: Json = {
      kind: 'compute#operation', id, name, zone: zoneUrl(req, project, zone), operationType: type,
      targetLink: target.selfLink, targetId: target.id, status: 'DONE', progress: 100, user: 'sandbox@example.com',
      insertTime: now, startTime: now, endTime: now, selfLink: `${zoneUrl(req, project, zone)}/operations/${name}`,
    };
    project.operations[name] = op;
    // Returned RUNNING, as Compute does; operations.get and .wait then answer DONE.
    return json({ ...op, status: 'RUNNING', progress: 0, endTime: undefined });
  };

  const insert = (req: SandboxRequest) => {
    const [projectId, zone] = req.params as [string, string];
    if (!ZONE.test(zone)) throw invalid(`Invalid value for field 'zone': '${zone}'.`);
    const project = store.project(projectId);
    const body = isObject(req.body) ? req.body : {};
    const name = body.name;
    if (typeof name !== 'string' || !NAME.test(name)) throw invalid(`Invalid value for field 'resource.name': '${String(name)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`);
    if (project.instances[`${zone}/${name}`]) throw new ApiError(409, `The resource 'projects/${projectId}/zones/${zone}/instances/${name}' already exists`, 'alreadyExists');
    const metadata = isObject(body.metadata) ? body.metadata : {};
    const resource: Json = {
      kind: 'compute#instance',
      id: String(5_000_000_000_000 + Number(store.nextId())),
      name,
      zone: zoneUrl(req, project, zone),
      status: 'RUNNING',
      machineType: body.machineType ?? `${zoneUrl(req, project, zone)}/machineTypes/e2-medium`,
      creationTimestamp: store.now().toISOString(),
      selfLink: `${zoneUrl(req, project, zone)}/instances/${name}`,
      metadata: { kind: 'compute#metadata', fingerprint: randomFingerprint(), items: checkMetadataItems(metadata.items) },
      serviceAccounts: Array.isArray(body.serviceAccounts) ? body.serviceAccounts : [],
      labels: isObject(body.labels) ? body.labels : {},
      labelFingerprint: randomFingerprint(),
      networkInterfaces: Array.isArray(body.networkInterfaces) ? body.networkInterfaces : [],
    };
    project.instances[`${zone}/${name}`] = { resource, guestAttributes: {} };
    return operation(req, project, zone, 'insert', resource);
  };

  const setMetadata = (req: SandboxRequest) => {
    const { project, zone, inst } = instance(req);
    const body = isObject(req.body) ? req.body : {};
    const current = inst.resource.metadata as Json;
    if (typeof body.fingerprint !== 'string' || body.fingerprint === '') {
      throw invalid('Supplied fingerprint is required: read the instance and send its metadata.fingerprint.');
    }
    // gcloud sends back the bytes it read URL-safe encoded: the same fingerprint, spelled otherwise.
    if (!sameEtagBytes(body.fingerprint, String(current.fingerprint), notBase64('resource.fingerprint'))) {
      throw conditionNotMet('Supplied fingerprint does not match current metadata fingerprint.');
    }
    inst.resource.metadata = { kind: 'compute#metadata', fingerprint: randomFingerprint(), items: checkMetadataItems(body.items) };
    store.events.emit(metadataEvent(project, zone, String(inst.resource.name)));
    return operation(req, project, zone, 'setMetadata', inst.resource);
  };

  const setLabels = (req: SandboxRequest) => {
    const { project, zone, inst } = instance(req);
    const body = isObject(req.body) ? req.body : {};
    // Missing or empty is the same 412 as stale, as Compute answers it.
    const sent = typeof body.labelFingerprint === 'string' ? body.labelFingerprint : '';
    if (!sameEtagBytes(sent, String(inst.resource.labelFingerprint), notBase64('resource.labelFingerprint'))) {
      throw conditionNotMet('Labels fingerprint either invalid or resource labels have changed');
    }
    inst.resource.labels = isObject(body.labels) ? body.labels : {};
    inst.resource.labelFingerprint = randomFingerprint();
    return operation(req, project, zone, 'setLabels', inst.resource);
  };

  const guestAttributes = (req: SandboxRequest) => {
    const { inst } = instance(req);
    const variableKey = req.query.get('variableKey');
    const queryPath = req.query.get('queryPath');
    const base = { kind: 'compute#guestAttributes', selfLink: `${String(inst.resource.selfLink)}/guestAttributes` };
    if (variableKey) {
      const value = inst.guestAttributes[variableKey];
      if (value === undefined) throw notFound(`The resource '${variableKey}' of guest attributes was not found`);
      return json({ ...base, variableKey, variableValue: value });
    }
    const prefix = queryPath ?? '';
    const items = Object.entries(inst.guestAttributes)
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, value]) => {
        const [namespace, key] = k.split('/', 2) as [string, string];
        return { namespace, key, value };
      });
    if (items.length === 0) throw notFound(`The resource '${prefix}' of guest attributes was not found`);
    return json({ ...base, ...(queryPath ? { queryPath } : {}), queryValue: { items } });
  };

  const getOperation = (req: SandboxRequest) => {
    const [projectId, zone, name] = req.params as [string, string, string];
    const op = store.project(projectId).operations[name];
    if (!op || !String(op.zone).endsWith(`/zones/${zone}`)) throw notFound(`The resource 'projects/${projectId}/zones/${zone}/operations/${name}' was not found`);
    return json(op);
  };

  const list = (req: SandboxRequest) => {
    const [projectId, zone] = req.params as [string, string];
    const project = store.project(projectId);
    const items = Object.entries(project.instances).filter(([k]) => k.startsWith(`${zone}/`)).sort().map(([, i]) => i.resource);
    return json({ kind: 'compute#instanceList', id: `projects/${projectId}/zones/${zone}/instances`, items, selfLink: `${zoneUrl(req, project, zone)}/instances` });
  };

  const remove = (req: SandboxRequest) => {
    const { project, zone, inst } = instance(req);
    delete project.instances[`${zone}/${String(inst.resource.name)}`];
    return operation(req, project, zone, 'delete', inst.resource);
  };

  const base = '/compute/v1/projects/{project}/zones/{zone}';
  const inst = `${base}/instances/{instance}`;
  return [
    route('POST', `${base}/instances`, 'compute', 'instances.insert', 'write', insert),
    route('GET', `${base}/instances`, 'compute', 'instances.list', 'read', list),
    route('POST', `${inst}/setMetadata`, 'compute', 'instances.setMetadata', 'write', setMetadata),
    route('POST', `${inst}/setLabels`, 'compute', 'instances.setLabels', 'write', setLabels),
    route('GET', `${inst}/getGuestAttributes`, 'compute', 'instances.getGuestAttributes', 'read', guestAttributes),
    route('GET', inst, 'compute', 'instances.get', 'read', (req) => json(instance(req).inst.resource)),
    route('DELETE', inst, 'compute', 'instances.delete', 'write', remove),
    route('GET', `${base}/operations/{operation}`, 'compute', 'zoneOperations.get', 'read', getOperation),
    route('POST', `${base}/operations/{operation}/wait`, 'compute', 'zoneOperations.wait', 'read', getOperation),
  ];
}

