/** Cloud Storage JSON API v1: buckets, their IAM policies, and just enough objects to make a bucket non-empty. */
import { createHash } from 'node:crypto';
import { crc32c } from './crc32c.js';
import { ApiError, alreadyExists, conditionNotMet, invalid, notFound } from './google-error.js';
import { bucketNameError, labelsError } from './bucket-rules.js';
import { replacePolicy } from './iam-policy.js';
import { json, noContent, route, type Route, type SandboxRequest } from './router.js';
import { emptyPolicy, policyBody, policyEtag, type BucketState, type Json, type Store, isObject } from './store.js';

const STORAGE_CLASSES = ['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE', 'MULTI_REGIONAL', 'REGIONAL', 'DURABLE_REDUCED_AVAILABILITY'];
const PUBLIC_MEMBERS = ['allUsers', 'allAuthenticatedUsers'];


/** Google's PATCH: objects merge field by field, null deletes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  const out: Json = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(out[k])) out[k] = mergePatch(out[k] as Json, v);
    else out[k] = v;
  }
  return out;
}

function stripNulls(value: Json): Json {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, isObject(v) ? stripNulls(v) : v]));
}

function checkMutable(resource: Json): void {
  const storageClass = resource.storageClass;
  if (storageClass !== undefined && (typeof storageClass !== 'string' || !STORAGE_CLASSES.includes(storageClass))) {
    throw invalid(`Invalid storage class: ${String(storageClass)}`);
  }
  const labelError = labelsError(resource.labels);
  if (labelError) throw invalid(labelError);
  const lifecycle = resource.lifecycle;
  if (lifecycle !== undefined && (!isObject(lifecycle) || (lifecycle.rule !== undefined && !Array.isArray(lifecycle.rule)))) {
    throw invalid('Invalid argument: lifecycle.rule must be a list');
  }
  const versioning = resource.versioning;
  if (versioning !== undefined && (!isObject(versioning) || (versioning.enabled !== undefined && typeof versioning.enabled !== 'boolean'))) {
    throw invalid('Invalid argument: versioning.enabled must be a boolean');
  }
}

function normaliseIamConfiguration(resource: Json, store: Store): void {
  const config = isObject(resource.iamConfiguration) ? resource.iamConfiguration : {};
  const ubla = isObject(config.uniformBucketLevelAccess) ? config.uniformBucketLevelAccess : { enabled: false };
  const enabled = ubla.enabled === true;
  const locked = enabled ? (ubla.lockedTime ?? new Date(store.now().getTime() + 90 * 86400_000).toISOString()) : undefined;
  const pap = config.publicAccessPrevention ?? 'inherited';
  if (pap !== 'inherited' && pap !== 'enforced' && pap !== 'unspecified') throw invalid(`Invalid publicAccessPrevention: ${String(pap)}`);
  resource.iamConfiguration = {
    bucketPolicyOnly: { enabled, ...(locked ? { lockedTime: locked } : {}) },
    uniformBucketLevelAccess: { enabled, ...(locked ? { lockedTime: locked } : {}) },
    publicAccessPrevention: pap === 'unspecified' ? 'inherited' : pap,
  };
}

export function storageRoutes(store: Store): Route[] {
  const bucket = (name: string): BucketState => {
    const b = store.data.buckets[name];
    if (!b) throw notFound(`The specified bucket does not exist.`);
    return b;
  };

  const touch = (b: BucketState) => {
    const metageneration = Number(b.resource.metageneration) + 1;
    b.resource.metageneration = String(metageneration);
    b.resource.etag = policyEtag({ version: 1, serial: metageneration, bindings: [] });
    b.resource.updated = store.now().toISOString();
  };

  const checkPreconditions = (b: BucketState, req: SandboxRequest) => {
    const match = req.query.get('ifMetagenerationMatch');
    if (match !== null && match !== b.resource.metageneration) throw conditionNotMet('At least one of the pre-conditions you specified did not hold.');
    const notMatch = req.query.get('ifMetagenerationNotMatch');
    if (notMatch !== null && notMatch === b.resource.metageneration) return { status: 304 };
    return undefined;
  };

  const view = (b: BucketState, req: SandboxRequest) => {
    const projection = req.query.get('projection') ?? 'noAcl';
    if (projection !== 'noAcl' && projection !== 'full') throw invalid(`Invalid projection: ${projection}`);
    const resource = structuredClone(b.resource);
    if (projection === 'full') Object.assign(resource, { acl: [], defaultObjectAcl: [], owner: { entity: `project-owners-${String(resource.projectNumber)}` } });
    return resource;
  };

  const insert = (req: SandboxRequest) => {
    const body = isObject(req.body) ? req.body : {};
    const projectId = req.query.get('project');
    if (!projectId) throw new ApiError(400, 'Required parameter: project', 'required');
    const name = body.name;
    if (typeof name !== 'string') throw new ApiError(400, 'Required: name', 'required');
    const nameError = bucketNameError(name);
    if (nameError) throw invalid(nameError);
    checkMutable(body);
    const project = store.project(projectId);
    if (store.data.buckets[name]) {
      const mine = store.data.buckets[name]!.resource.projectNumber === project.projectNumber;
      throw alreadyExists(mine
        ? 'Your previous request to create the named bucket succeeded and you already own it.'
        : 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.');
    }
    const now = store.now().toISOString();
    const location = typeof body.location === 'string' ? body.location.toUpperCase() : 'US';
    const resource: Json = {
      ...stripNulls(body),
      kind: 'storage#bucket',
      selfLink: `${req.baseUrl}/storage/v1/b/${name}`,
      id: name,
      name,
      projectNumber: project.projectNumber,
      metageneration: '1',
      etag: 'CAE=',
      location,
      locationType: /^[A-Z]+$/.test(location) && !location.includes('-') ? 'multi-region' : 'region',
      storageClass: body.storageClass ?? 'STANDARD',
      timeCreated: now,
      updated: now,
      rpo: 'DEFAULT',
    };
    normaliseIamConfiguration(resource, store);
    const policy = emptyPolicy([
      { role: 'roles/storage.legacyBucketOwner', members: [`projectEditor:${project.projectId}`, `projectOwner:${project.projectId}`] },
      { role: 'roles/storage.legacyBucketReader', members: [`projectViewer:${project.projectId}`] },
    ]);
    store.data.buckets[name] = { resource, policy, objects: {} };
    return json(view(store.data.buckets[name]!, req));
  };

  const list = (req: SandboxRequest) => {
    const projectId = req.query.get('project');
    if (!projectId) throw new ApiError(400, 'Required parameter: project', 'required');
    const project = store.project(projectId);
    const prefix = req.query.get('prefix') ?? '';
    const names = Object.keys(store.data.buckets)
      .filter((n) => n.startsWith(prefix) && store.data.buckets[n]!.resource.projectNumber === project.projectNumber)
      .sort();
    const page = paginate(names, req.query.get('maxResults'), req.query.get('pageToken'));
    return json({
      kind: 'storage#buckets',
      items: page.items.map((n) => view(store.data.buckets[n]!, req)),
      ...(page.next ? { nextPageToken: page.next } : {}),
    });
  };

  const get = (req: SandboxRequest) => {
    const b = bucket(req.params[0]!);
    return checkPreconditions(b, req) ?? json(view(b, req));
  };

  const write = (req: SandboxRequest, mode: 'patch' | 'update') => {
    const b = bucket(req.params[0]!);
    checkPreconditions(b, req);
    const body = isObject(req.body) ? req.body : {};
    if (body.location !== undefined && String(body.location).toUpperCase() !== b.resource.location) {
      throw invalid('The location of a bucket cannot be changed.');
    }
    if (body.name !== undefined && body.name !== b.resource.name) throw invalid('The name of a bucket cannot be changed.');
    const fixed = ['kind', 'selfLink', 'id', 'name', 'projectNumber', 'metageneration', 'etag', 'location', 'locationType', 'timeCreated', 'updated', 'rpo'];
    const base = mode === 'patch' ? b.resource : Object.fromEntries(fixed.map((k) => [k, b.resource[k]]).filter(([, v]) => v !== undefined));
    const next = mergePatch(base, Object.fromEntries(Object.entries(body).filter(([k]) => !fixed.includes(k))));
    checkMutable(next);
    normaliseIamConfiguration(next, store);
    if (next.storageClass === undefined) next.storageClass = 'STANDARD';
    b.resource = next;
    touch(b);
    return json(view(b, req));
  };

  const remove = (req: SandboxRequest) => {
    const name = req.params[0]!;
    const b = bucket(name);
    checkPreconditions(b, req);
    if (Object.keys(b.objects).length > 0) throw alreadyExists('The bucket you tried to delete is not empty.');
    delete store.data.buckets[name];
    return noContent();
  };

  const getIam = (req: SandboxRequest) => {
    const b = bucket(req.params[0]!);
    return json({ kind: 'storage#policy', resourceId: `projects/_/buckets/${req.params[0]!}`, ...policyBody(b.policy) });
  };

  const setIam = (req: SandboxRequest) => {
    const b = bucket(req.params[0]!);
    const body = isObject(req.body) ? req.body : {};
    const publicGrant = Array.isArray(body.bindings) && body.bindings.some((x: unknown) =>
      isObject(x) && Array.isArray(x.members) && x.members.some((m) => PUBLIC_MEMBERS.includes(m as string)));
    if (publicGrant && (b.resource.iamConfiguration as Json).publicAccessPrevention === 'enforced') {
      throw conditionNotMet('The member bindings allUsers and allAuthenticatedUsers are not allowed since public access prevention is enforced.');
    }
    // The resourceId the Node client sends is junk ("buckets/[object Promise]"): ignored, as Google does.
    replacePolicy(b.policy, body, () => conditionNotMet('At least one of the pre-conditions you specified did not hold.'), 'etag');
    return json({ kind: 'storage#policy', resourceId: `projects/_/buckets/${req.params[0]!}`, ...policyBody(b.policy) });
  };

  const uploadObject = (req: SandboxRequest) => {
    const b = bucket(req.params[0]!);
    const { name, data, contentType } = parseUpload(req);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32c(data));
    const generation = String(Date.now() * 1000 + Number(store.nextId()));
    const object: Json = {
      kind: 'storage#object', id: `${String(b.resource.name)}/${name}/${generation}`, name, bucket: b.resource.name,
      generation, metageneration: '1', contentType, size: String(data.length),
      md5Hash: createHash('md5').update(data).digest('base64'), crc32c: crc.toString('base64'), timeCreated: store.now().toISOString(),
      updated: store.now().toISOString(), storageClass: b.resource.storageClass,
    };
    b.objects[name] = object;
    return json(object);
  };

  const listObjects = (req: SandboxRequest) => {
    const b = bucket(req.params[0]!);
    const prefix = req.query.get('prefix') ?? '';
    const names = Object.keys(b.objects).filter((n) => n.startsWith(prefix)).sort();
    const page = paginate(names, req.query.get('maxResults'), req.query.get('pageToken'));
    return json({ kind: 'storage#objects', items: page.items.map((n) => b.objects[n]), ...(page.next ? { nextPageToken: page.next } : {}) });
  };

  const object = (req: SandboxRequest) => {
    const o = bucket(req.params[0]!).objects[req.params[1]!];
    if (!o) throw notFound(`No such object: ${req.params[0]!}/${req.params[1]!}`);
    return o;
  };

  const removeObject = (req: SandboxRequest) => {
    object(req);
    delete bucket(req.params[0]!).objects[req.params[1]!];
    return noContent();
  };

  return [
    route('POST', '/storage/v1/b', 'storage', 'buckets.insert', 'write', insert),
    route('GET', '/storage/v1/b', 'storage', 'buckets.list', 'read', list),
    route('GET', '/storage/v1/b/{bucket}/iam', 'storage', 'buckets.getIamPolicy', 'read', getIam),
    route('PUT', '/storage/v1/b/{bucket}/iam', 'storage', 'buckets.setIamPolicy', 'write', setIam),
    route('GET', '/storage/v1/b/{bucket}/o', 'storage', 'objects.list', 'read', listObjects),
    route('GET', '/storage/v1/b/{bucket}/o/{object*}', 'storage', 'objects.get', 'read', (req) => json(object(req))),
    route('DELETE', '/storage/v1/b/{bucket}/o/{object*}', 'storage', 'objects.delete', 'write', removeObject),
    route('POST', '/upload/storage/v1/b/{bucket}/o', 'storage', 'objects.insert', 'write', uploadObject, { json: false }),
    route('GET', '/storage/v1/b/{bucket}', 'storage', 'buckets.get', 'read', get),
    route('PATCH', '/storage/v1/b/{bucket}', 'storage', 'buckets.patch', 'write', (req) => write(req, 'patch')),
    route('PUT', '/storage/v1/b/{bucket}', 'storage', 'buckets.update', 'write', (req) => write(req, 'update')),
    route('DELETE', '/storage/v1/b/{bucket}', 'storage', 'buckets.delete', 'write', remove),
  ];
}

/** Pages of a sorted list; the page token is the last name of the previous page. */
export function paginate<T extends string>(names: T[], maxResults: string | null, pageToken: string | null): { items: T[]; next?: string } {
  const size = Math.max(1, Math.min(1000, Number(maxResults) || 1000));
  const start = pageToken ? names.findIndex((n) => n > Buffer.from(pageToken, 'base64url').toString()) : 0;
  const from = start < 0 ? names.length : start;
  const items = names.slice(from, from + size);
  const more = from + size < names.length;
  return { items, ...(more ? { next: Buffer.from(items[items.length - 1]!).toString('base64url') } : {}) };
}

/** Media and multipart uploads: the object's name and size. */
function parseUpload(req: SandboxRequest): { name: string; data: Buffer; contentType: string } {
  const type = req.query.get('uploadType');
  const contentType = String(req.headers['content-type'] ?? 'application/octet-stream');
  if (type === 'media') {
    const name = req.query.get('name');
    if (!name) throw new ApiError(400, 'Required: name', 'required');
    return { name, data: req.raw, contentType };
  }
  if (type === 'multipart') {
    const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
    if (!boundary) throw invalid('Missing multipart boundary');
    const parts = req.raw.toString('latin1').split(`--${boundary}`).slice(1, -1);
    const [meta, data] = parts.map((p) => p.slice(p.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, ''));
    let metadata: Json;
    try {
      metadata = JSON.parse(meta ?? '') as Json;
    } catch {
      throw invalid('Invalid multipart metadata');
    }
    const name = metadata.name ?? req.query.get('name');
    if (typeof name !== 'string') throw new ApiError(400, 'Required: name', 'required');
    return { name, data: Buffer.from(data ?? '', 'latin1'), contentType: String(metadata.contentType ?? 'application/octet-stream') };
  }
  throw invalid(`Unsupported uploadType: ${String(type)}`);
}
