/** BigQuery API v2: datasets, their access entries and labels, with etags and If-Match; the names of their tables. */
import { labelsError } from './bucket-rules.js';
import { ApiError, conditionNotMet, invalid, notFound } from './google-error.js';
import { json, noContent, route, type Route, type SandboxRequest } from './router.js';
import { mergePatch, paginate } from './storage-api.js';
import { randomEtag, type DatasetState, type Json, type ProjectState, type Store, isObject } from './store.js';

const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;
const MIN_EXPIRATION_MS = 3_600_000;
const MUTABLE = ['description', 'friendlyName', 'labels', 'access', 'defaultTableExpirationMs', 'defaultPartitionExpirationMs'];


/** The Dataset resource's fields: BigQuery refuses any other name in a request body. */
const DATASET_FIELDS = new Set([
  'kind', 'etag', 'id', 'selfLink', 'datasetReference', 'friendlyName', 'description', 'defaultTableExpirationMs',
  'defaultPartitionExpirationMs', 'labels', 'access', 'creationTime', 'lastModifiedTime', 'location', 'defaultEncryptionConfiguration',
  'satisfiesPzs', 'satisfiesPzi', 'type', 'linkedDatasetSource', 'linkedDatasetMetadata', 'externalDatasetReference',
  'externalCatalogDatasetOptions', 'isCaseInsensitive', 'defaultCollation', 'defaultRoundingMode', 'maxTimeTravelHours', 'tags',
  'storageBillingModel', 'resourceTags', 'restrictions',
]);

function checkKnownFields(body: Json): void {
  const unknown = Object.keys(body).find((k) => !DATASET_FIELDS.has(k));
  if (unknown) throw new ApiError(400, `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`, 'invalid');
}
const ACCESS_KEYS = ['userByEmail', 'groupByEmail', 'domain', 'specialGroup', 'iamMember', 'view', 'routine', 'dataset'];

function checkFields(resource: Json): void {
  const labelError = labelsError(resource.labels);
  if (labelError) throw invalid(labelError);
  const expiration = resource.defaultTableExpirationMs;
  if (expiration !== undefined && expiration !== null) {
    const ms = Number(expiration);
    if (!Number.isInteger(ms) || ms < MIN_EXPIRATION_MS) {
      throw invalid(`Invalid value for defaultTableExpirationMs: ${String(expiration)}. The minimum is ${MIN_EXPIRATION_MS}.`);
    }
  }
  if (resource.access !== undefined) {
    if (!Array.isArray(resource.access)) throw invalid('Invalid value for access: must be a list');
    resource.access.forEach((entry, i) => {
      if (!isObject(entry) || ACCESS_KEYS.filter((k) => entry[k] !== undefined).length !== 1) {
        throw invalid(`Invalid access entry ${i}: exactly one of ${ACCESS_KEYS.join(', ')} is required`);
      }
      if (entry.view === undefined && entry.routine === undefined && entry.dataset === undefined && typeof entry.role !== 'string') {
        throw invalid(`Invalid access entry ${i}: role is required`);
      }
    });
  }
}

/** BigQuery's list filter: space-separated "labels.key" or "labels.key:value" terms, all of which must hold. */
function matchesFilter(labels: Record<string, string>, filter: string | null): boolean {
  if (!filter) return true;
  return filter.trim().split(/\s+/).every((term) => {
    const m = /^labels\.([^:]+)(?::(.*))?$/.exec(term);
    if (!m) throw invalid(`Invalid filter: ${filter}`);
    return m[2] === undefined ? m[1]! in labels : labels[m[1]!] === m[2];
  });
}

export function bigqueryRoutes(store: Store): Route[] {
  const dataset = (project: ProjectState, id: string): DatasetState => {
    const d = project.datasets[id];
    if (!d) throw notFound(`Not found: Dataset ${project.projectId}:${id}`);
    return d;
  };

  const defaultAccess = (): Json[] => [
    { role: 'WRITER', specialGroup: 'projectWriters' },
    { role: 'OWNER', specialGroup: 'projectOwners' },
    { role: 'READER', specialGroup: 'projectReaders' },
  ];

  const stamp = (d: DatasetState) => {
    d.resource.etag = randomEtag();
    d.resource.lastModifiedTime = String(store.now().getTime());
  };

  const insert = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const body = isObject(req.body) ? req.body : {};
    checkKnownFields(body);
    const ref = isObject(body.datasetReference) ? body.datasetReference : {};
    const id = ref.datasetId;
    if (typeof id !== 'string') throw new ApiError(400, 'Required parameter is missing: datasetReference.datasetId', 'required');
    if (!DATASET_ID.test(id)) throw invalid(`Invalid dataset ID "${id}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.`);
    if (ref.projectId !== undefined && ref.projectId !== project.projectId) throw invalid('datasetReference.projectId does not match the project in the URL');
    checkFields(body);
    if (project.datasets[id]) throw new ApiError(409, `Already Exists: Dataset ${project.projectId}:${id}`, 'duplicate', 'ALREADY_EXISTS');
    const now = String(store.now().getTime());
    const resource: Json = {
      ...Object.fromEntries(MUTABLE.filter((k) => body[k] !== undefined && body[k] !== null).map((k) => [k, body[k]])),
      kind: 'bigquery#dataset',
      id: `${project.projectId}:${id}`,
      selfLink: `${req.baseUrl}/bigquery/v2/projects/${project.projectId}/datasets/${id}`,
      datasetReference: { datasetId: id, projectId: project.projectId },
      location: typeof body.location === 'string' ? body.location : 'US',
      creationTime: now,
      lastModifiedTime: now,
      type: 'DEFAULT',
    };
    if (resource.access === undefined) resource.access = defaultAccess();
    if (resource.defaultTableExpirationMs !== undefined) resource.defaultTableExpirationMs = String(resource.defaultTableExpirationMs);
    const d: DatasetState = { resource, tables: [] };
    stamp(d);
    project.datasets[id] = d;
    return json(d.resource);
  };

  const list = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const filter = req.query.get('filter');
    const ids = Object.keys(project.datasets)
      .filter((id) => matchesFilter((project.datasets[id]!.resource.labels ?? {}) as Record<string, string>, filter))
      .sort();
    const page = paginate(ids, req.query.get('maxResults'), req.query.get('pageToken'));
    return json({
      kind: 'bigquery#datasetList',
      etag: randomEtag(),
      datasets: page.items.map((id) => {
        const r = project.datasets[id]!.resource;
        return { kind: 'bigquery#dataset', id: r.id, datasetReference: r.datasetReference, location: r.location, ...(r.labels ? { labels: r.labels } : {}) };
      }),
      ...(page.next ? { nextPageToken: page.next } : {}),
    });
  };

  const ifMatch = (req: SandboxRequest, d: DatasetState) => {
    const expected = req.headers['if-match'];
    if (typeof expected === 'string' && expected !== '*' && expected !== d.resource.etag) {
      throw conditionNotMet('Precondition check failed.');
    }
  };

  const write = (req: SandboxRequest, mode: 'patch' | 'update') => {
    const project = store.project(req.params[0]!);
    const d = dataset(project, req.params[1]!);
    ifMatch(req, d);
    const body = isObject(req.body) ? req.body : {};
    checkKnownFields(body);
    if (body.location !== undefined && body.location !== d.resource.location) throw invalid('Cannot change dataset location.');
    const changes = Object.fromEntries(Object.entries(body).filter(([k]) => MUTABLE.includes(k)));
    const base = mode === 'patch' ? d.resource : Object.fromEntries(Object.entries(d.resource).filter(([k]) => !MUTABLE.includes(k)));
    const next = mode === 'patch' ? mergePatch(base, changes) : { ...base, ...changes };
    if (Array.isArray(changes.access)) next.access = changes.access;
    if (isObject(changes.labels) && mode === 'patch') next.labels = mergePatch((d.resource.labels ?? {}) as Json, changes.labels);
    checkFields(next);
    if (next.defaultTableExpirationMs !== undefined) next.defaultTableExpirationMs = String(next.defaultTableExpirationMs);
    if (next.access === undefined) next.access = defaultAccess();
    d.resource = next;
    stamp(d);
    return json(d.resource);
  };

  const remove = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const d = dataset(project, req.params[1]!);
    if (d.tables.length > 0 && req.query.get('deleteContents') !== 'true') {
      throw new ApiError(400, `Dataset ${project.projectId}:${req.params[1]!} is still in use`, 'resourceInUse', 'FAILED_PRECONDITION');
    }
    delete project.datasets[req.params[1]!];
    return noContent();
  };

  /** Tables are names only (a seed's `tables`): listed, never created or read one by one. */
  const listTables = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const datasetId = req.params[1]!;
    const names = [...dataset(project, datasetId).tables].sort();
    const page = paginate(names, req.query.get('maxResults'), req.query.get('pageToken'));
    return json({
      kind: 'bigquery#tableList',
      etag: randomEtag(),
      tables: page.items.map((tableId) => ({
        kind: 'bigquery#table',
        id: `${project.projectId}:${datasetId}.${tableId}`,
        tableReference: { projectId: project.projectId, datasetId, tableId },
        type: 'TABLE',
      })),
      totalItems: names.length,
      ...(page.next ? { nextPageToken: page.next } : {}),
    });
  };

  const base = '/bigquery/v2/projects/{project}/datasets';
  return [
    route('POST', base, 'bigquery', 'datasets.insert', 'write', insert),
    route('GET', base, 'bigquery', 'datasets.list', 'read', list),
    route('GET', `${base}/{dataset}/tables`, 'bigquery', 'tables.list', 'read', listTables),
    route('GET', `${base}/{dataset}`, 'bigquery', 'datasets.get', 'read', (req) =>
      json(dataset(store.project(req.params[0]!), req.params[1]!).resource)),
    route('PATCH', `${base}/{dataset}`, 'bigquery', 'datasets.patch', 'write', (req) => write(req, 'patch')),
    route('PUT', `${base}/{dataset}`, 'bigquery', 'datasets.update', 'write', (req) => write(req, 'update')),
    route('DELETE', `${base}/{dataset}`, 'bigquery', 'datasets.delete', 'write', remove),
  ];
}
