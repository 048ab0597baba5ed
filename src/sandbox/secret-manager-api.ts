/** Secret Manager API v1: secrets, versions (add/get/list/access/enable/disable/destroy, "latest"), IAM. */
import { crc32c } from './crc32c.js';
import { checkSecretAccess } from './secret-access.js';
import { labelsError } from './bucket-rules.js';
import { aborted, alreadyExists, failedPrecondition, invalid, notFound } from './google-error.js';
import { replacePolicy } from './iam-policy.js';
import { json, route, type Route, type SandboxRequest } from './router.js';
import { emptyPolicy, policyBody, randomEtag, type Json, type ProjectState, type SecretState, type Store, type VersionState, isObject } from './store.js';

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const MUTABLE = ['labels', 'annotations', 'versionAliases', 'topics', 'rotation', 'expireTime', 'ttl', 'versionDestroyTtl'];

/** Secret Manager's list filter, as used here: "labels.key=value", "labels.key:value", "state:ENABLED", ANDed by spaces or AND. */
function filterMatches(resource: Json, filter: string | null): boolean {
  if (!filter) return true;
  const terms = filter.split(/\s+(?:AND\s+)?/).filter(Boolean);
  return terms.every((term) => {
    const m = /^([A-Za-z_.-]+?)(?:[:=])(.*)$/.exec(term);
    if (!m) throw invalid(`Invalid filter: ${filter}`);
    const [, field, value] = m as unknown as [string, string, string];
    const actual = field.startsWith('labels.')
      ? ((resource.labels ?? {}) as Record<string, string>)[field.slice('labels.'.length)]
      : resource[field];
    return value === '*' ? actual !== undefined : String(actual) === value.replace(/^"|"$/g, '');
  });
}

export function secretManagerRoutes(store: Store): Route[] {
  const secret = (project: ProjectState, id: string): SecretState => {
    const s = project.secrets[id];
    if (!s) throw notFound(`Secret [projects/${project.projectNumber}/secrets/${id}] not found.`);
    return s;
  };
  const lookup = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    return { project, secret: secret(project, req.params[1]!) };
  };
  const version = (req: SandboxRequest): { s: SecretState; v: VersionState; project: ProjectState } => {
    const { project, secret: s } = lookup(req);
    const ref = req.params[2]!;
    const v = ref === 'latest' ? s.versions[s.versions.length - 1] : s.versions.find((x) => x.resource.name === `${String(s.resource.name)}/versions/${ref}`);
    if (!v) throw notFound(`Secret Version [projects/${project.projectNumber}/secrets/${req.params[1]!}/versions/${ref}] not found.`);
    return { s, v, project };
  };

  const create = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const id = req.query.get('secretId');
    if (!id || !SECRET_ID.test(id)) throw invalid(`Secret ID [${id ?? ''}] is invalid: it must match [a-zA-Z0-9_-]{1,255}.`);
    const body = isObject(req.body) ? req.body : {};
    const replication = body.replication;
    if (!isObject(replication) || (replication.automatic === undefined && replication.userManaged === undefined)) {
      throw invalid('Secret.replication must be specified.');
    }
    const labelError = labelsError(body.labels);
    if (labelError) throw invalid(labelError);
    if (project.secrets[id]) throw alreadyExists(`Secret [projects/${project.projectNumber}/secrets/${id}] already exists.`, 'alreadyExists');
    const resource: Json = {
      ...Object.fromEntries(MUTABLE.filter((k) => body[k] !== undefined).map((k) => [k, body[k]])),
      name: `projects/${project.projectNumber}/secrets/${id}`,
      replication,
      createTime: store.now().toISOString(),
      etag: `"${randomEtag()}"`,
    };
    project.secrets[id] = { resource, versions: [], policy: emptyPolicy() };
    return json(resource);
  };

  const list = (req: SandboxRequest, items: Json[], key: string) => {
    const filtered = items.filter((r) => filterMatches(r, req.query.get('filter')));
    const size = Math.max(1, Math.min(25000, Number(req.query.get('pageSize')) || 25000));
    const start = Number(req.query.get('pageToken') ?? 0) || 0;
    const page = filtered.slice(start, start + size);
    return json({
      [key]: page,
      ...(start + size < filtered.length ? { nextPageToken: String(start + size) } : {}),
      totalSize: filtered.length,
    });
  };

  const patch = (req: SandboxRequest) => {
    const { secret: s } = lookup(req);
    const mask = req.query.get('updateMask');
    if (!mask) throw invalid('update_mask is required.');
    const body = isObject(req.body) ? req.body : {};
    if (typeof body.etag === 'string' && body.etag !== '' && body.etag !== s.resource.etag) throw aborted('The etag provided does not match the current etag.');
    for (const field of mask.split(',').map((f) => f.trim())) {
      if (!MUTABLE.includes(field)) throw invalid(`Invalid update_mask path: ${field}`);
      if (field === 'labels' && labelsError(body.labels)) throw invalid(labelsError(body.labels)!);
      if (body[field] === undefined) delete s.resource[field];
      else s.resource[field] = body[field];
    }
    s.resource.etag = `"${randomEtag()}"`;
    return json(s.resource);
  };

  const remove = (req: SandboxRequest) => {
    const { project, secret: s } = lookup(req);
    const etag = req.query.get('etag');
    if (etag && etag !== s.resource.etag) throw aborted('The etag provided does not match the current etag.');
    delete project.secrets[req.params[1]!];
    return json({});
  };

  const addVersion = (req: SandboxRequest) => {
    const { secret: s } = lookup(req);
    const payload = isObject(req.body) && isObject(req.body.payload) ? req.body.payload : undefined;
    if (!payload || typeof payload.data !== 'string') throw invalid('SecretPayload.data is required.');
    const data = Buffer.from(payload.data, 'base64');
    if (data.length > 64 * 1024) throw invalid('Secret payload data must be at most 65536 bytes.');
    if (payload.dataCrc32c !== undefined && String(crc32c(data)) !== String(payload.dataCrc32c)) {
      throw invalid('Checksum mismatch: the provided data_crc32c does not match the payload.');
    }
    const number = s.versions.length + 1;
    const resource: Json = {
      name: `${String(s.resource.name)}/versions/${number}`,
      createTime: store.now().toISOString(),
      state: 'ENABLED',
      replicationStatus: { automatic: {} },
      etag: `"${randomEtag()}"`,
      clientSpecifiedPayloadChecksum: payload.dataCrc32c !== undefined,
    };
    s.versions.push({ resource, data: data.toString('base64') });
    return json(resource);
  };

  const access = (req: SandboxRequest) => {
    const { s, v, project } = version(req);
    checkSecretAccess(req.principal, String(s.resource.name), s.policy, project.policy);
    if (v.resource.state !== 'ENABLED') {
      throw failedPrecondition(`${String(v.resource.name)} is in ${String(v.resource.state)} state.`);
    }
    const data = Buffer.from(v.data, 'base64');
    return json({ name: v.resource.name, payload: { data: v.data, dataCrc32c: String(crc32c(data)) } });
  };

  const setState = (state: 'ENABLED' | 'DISABLED' | 'DESTROYED') => (req: SandboxRequest) => {
    const { v } = version(req);
    const body = isObject(req.body) ? req.body : {};
    if (typeof body.etag === 'string' && body.etag !== '' && body.etag !== v.resource.etag) {
      throw aborted('The etag provided does not match the current etag.');
    }
    if (v.resource.state === 'DESTROYED') throw failedPrecondition(`${String(v.resource.name)} is in DESTROYED state.`);
    v.resource.state = state;
    v.resource.etag = `"${randomEtag()}"`;
    if (state === 'DESTROYED') {
      v.data = '';
      v.resource.destroyTime = store.now().toISOString();
    }
    return json(v.resource);
  };

  const base = '/v1/projects/{project}/secrets';
  const secretPath = `${base}/{secret}`;
  const versionPath = `${secretPath}/versions/{version}`;
  return [
    route('POST', base, 'secretmanager', 'secrets.create', 'write', create),
    route('GET', base, 'secretmanager', 'secrets.list', 'read', (req) =>
      list(req, Object.values(store.project(req.params[0]!).secrets).map((s) => s.resource), 'secrets')),
    route('POST', `${secretPath}:addVersion`, 'secretmanager', 'secrets.addVersion', 'write', addVersion),
    route('GET', `${secretPath}:getIamPolicy`, 'secretmanager', 'secrets.getIamPolicy', 'read', (req) => json(policyBody(lookup(req).secret.policy))),
    route('POST', `${secretPath}:setIamPolicy`, 'secretmanager', 'secrets.setIamPolicy', 'write', (req) => {
      const { secret: s } = lookup(req);
      replacePolicy(s.policy, isObject(req.body) ? req.body.policy : undefined,
        () => aborted('There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.'));
      return json(policyBody(s.policy));
    }),
    route('GET', `${secretPath}/versions`, 'secretmanager', 'versions.list', 'read', (req) =>
      list(req, [...lookup(req).secret.versions].reverse().map((v) => v.resource), 'versions')),
    route('GET', `${versionPath}:access`, 'secretmanager', 'versions.access', 'read', access),
    route('POST', `${versionPath}:enable`, 'secretmanager', 'versions.enable', 'write', setState('ENABLED')),
    route('POST', `${versionPath}:disable`, 'secretmanager', 'versions.disable', 'write', setState('DISABLED')),
    route('POST', `${versionPath}:destroy`, 'secretmanager', 'versions.destroy', 'write', setState('DESTROYED')),
    route('GET', versionPath, 'secretmanager', 'versions.get', 'read', (req) => json(version(req).v.resource)),
    route('GET', secretPath, 'secretmanager', 'secrets.get', 'read', (req) => json(lookup(req).secret.resource)),
    route('PATCH', secretPath, 'secretmanager', 'secrets.patch', 'write', patch),
    route('DELETE', secretPath, 'secretmanager', 'secrets.delete', 'write', remove),
  ];
}
