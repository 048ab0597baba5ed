/**
 * The GCE metadata server of each emulated instance, so a real VM agent can run against the sandbox.
 * Base URL of an instance: <sandbox>/__metadata/<project>/<zone>/<instance>, under which
 * /computeMetadata/v1/... answers as on the VM (Metadata-Flavor: Google, wait_for_change, guest attributes).
 */
import { once } from 'node:events';
import { metadataEvent } from './compute-api.js';
import { ApiError, forbidden, notFound } from './google-error.js';
import { mintAccessToken } from './principals.js';
import { route, type Route, type SandboxRequest, type SandboxResponse } from './router.js';
import { contentEtag, type InstanceState, type Json, type ProjectState, type Store } from './store.js';

export const METADATA_PREFIX = '/__metadata';
const MAX_WAIT_SECONDS = 3600;
const TOKEN_LIFETIME_MS = 3600_000;

/** Where an instance's metadata server lives inside a sandbox at baseUrl. */
export function metadataBaseUrl(baseUrl: string, project: string, zone: string, instance: string): string {
  return `${baseUrl}${METADATA_PREFIX}/${project}/${zone}/${instance}`;
}

interface Answer {
  text: string;
  contentType: string;
}

export function metadataRoutes(store: Store): Route[] {
  const locate = (req: SandboxRequest): { project: ProjectState; zone: string; inst: InstanceState } => {
    if (req.headers['metadata-flavor'] !== 'Google') throw forbidden('Missing Metadata-Flavor:Google header.');
    if (req.headers['x-forwarded-for'] !== undefined) throw forbidden('Request rejected: X-Forwarded-For header present.');
    const [projectId, zone, name] = req.params as [string, string, string];
    const project = store.project(projectId);
    const inst = project.instances[`${zone}/${name}`];
    if (!inst) throw notFound(`No instance ${name} in ${projectId}/${zone}`);
    return { project, zone, inst };
  };

  const items = (inst: InstanceState) => ((inst.resource.metadata as Json).items ?? []) as { key: string; value: string }[];

  /** Answers now, or, with wait_for_change, once the answer's etag differs from last_etag (or the current one). */
  const serve = (read: (req: SandboxRequest) => Answer | undefined) => async (req: SandboxRequest): Promise<SandboxResponse> => {
    const { project, zone, inst } = locate(req);
    const respond = (answer: Answer | undefined): SandboxResponse => {
      if (!answer) throw notFound('Not Found');
      return { status: 200, text: answer.text, headers: { 'content-type': answer.contentType, etag: contentEtag(answer.text) } };
    };
    if (req.query.get('wait_for_change') !== 'true') return respond(read(req));
    const etagOf = () => {
      const answer = read(req);
      return answer ? contentEtag(answer.text) : '';
    };
    const lastEtag = req.query.get('last_etag') ?? etagOf();
    const timeout = Math.min(Number(req.query.get('timeout_sec') ?? MAX_WAIT_SECONDS) || MAX_WAIT_SECONDS, MAX_WAIT_SECONDS);
    const deadline = AbortSignal.any([req.signal, AbortSignal.timeout(timeout * 1000)]);
    const event = metadataEvent(project, zone, String(inst.resource.name));
    while (etagOf() === lastEtag && !deadline.aborted) {
      try {
        await once(store.events, event, { signal: deadline });
      } catch {
        break;
      }
    }
    if (req.signal.aborted) return { status: 503, text: 'stopped' };
    return respond(read(req));
  };

  const attribute = (req: SandboxRequest): Answer | undefined => {
    const { inst } = locate(req);
    const item = items(inst).find((i) => i.key === req.params[3]);
    return item ? { text: item.value, contentType: 'application/text' } : undefined;
  };

  const attributes = (req: SandboxRequest): Answer => {
    const { inst } = locate(req);
    const all = items(inst);
    if (req.query.get('recursive') === 'true' || req.query.get('alt') === 'json') {
      return { text: JSON.stringify(Object.fromEntries(all.map((i) => [i.key, i.value]))), contentType: 'application/json' };
    }
    return { text: all.map((i) => `${i.key}\n`).join(''), contentType: 'application/text' };
  };

  const fixed = (value: (p: ProjectState, zone: string, inst: InstanceState) => string) => (req: SandboxRequest): Answer => {
    const { project, zone, inst } = locate(req);
    return { text: value(project, zone, inst), contentType: 'application/text' };
  };

  const email = (inst: InstanceState) =>
    String((inst.resource.serviceAccounts as { email?: string }[] | undefined)?.[0]?.email ?? 'default');

  const guestEnabled = (inst: InstanceState) =>
    items(inst).some((i) => i.key === 'enable-guest-attributes' && i.value.toUpperCase() === 'TRUE');

  const putGuest = (req: SandboxRequest): SandboxResponse => {
    const { inst } = locate(req);
    if (!guestEnabled(inst)) throw forbidden('Guest attributes endpoint access is disabled.');
    const key = `${req.params[3]!}/${req.params[4]!}`;
    if (req.raw.length > 256 * 1024) throw new ApiError(400, 'Guest attribute value too large', 'invalid');
    inst.guestAttributes[key] = req.raw.toString('utf8');
    return { status: 200, text: '' };
  };

  const getGuest = (req: SandboxRequest): SandboxResponse => {
    const { inst } = locate(req);
    if (!guestEnabled(inst)) throw forbidden('Guest attributes endpoint access is disabled.');
    const value = inst.guestAttributes[`${req.params[3]!}/${req.params[4]!}`];
    if (value === undefined) throw notFound('Not Found');
    return { status: 200, text: value, headers: { 'content-type': 'application/text' } };
  };

  const base = `${METADATA_PREFIX}/{project}/{zone}/{instance}/computeMetadata/v1`;
  const read = (path: string, op: string, answer: (req: SandboxRequest) => Answer | undefined) =>
    route('GET', `${base}${path}`, 'metadata', op, 'read', serve(answer), { json: false });
  return [
    read('/instance/attributes/', 'instance.attributes.list', attributes),
    read('/instance/attributes/{key}', 'instance.attributes.get', attribute),
    read('/instance/name', 'instance.name', fixed((_, __, i) => String(i.resource.name))),
    read('/instance/id', 'instance.id', fixed((_, __, i) => String(i.resource.id))),
    read('/instance/hostname', 'instance.hostname', fixed((p, z, i) => `${String(i.resource.name)}.${z}.c.${p.projectId}.internal`)),
    read('/instance/zone', 'instance.zone', fixed((p, z) => `projects/${p.projectNumber}/zones/${z}`)),
    read('/project/project-id', 'project.projectId', fixed((p) => p.projectId)),
    read('/project/numeric-project-id', 'project.numericProjectId', fixed((p) => p.projectNumber)),
    read('/instance/service-accounts/default/email', 'serviceAccount.email', fixed((_, __, i) => email(i))),
    route('GET', `${base}/instance/service-accounts/default/token`, 'metadata', 'serviceAccount.token', 'read', (req) => {
      const { inst } = locate(req);
      const account = (inst.resource.serviceAccounts as { email?: string; scopes?: string[] }[] | undefined)?.[0];
      if (!account?.email) throw notFound('Not Found'); // a VM without a service account has no token
      const { accessToken } = mintAccessToken(store, account.email, account.scopes ?? [], TOKEN_LIFETIME_MS, true);
      return { status: 200, body: { access_token: accessToken, expires_in: TOKEN_LIFETIME_MS / 1000 - 1, token_type: 'Bearer' } };
    }, { json: false }),
    route('PUT', `${base}/instance/guest-attributes/{namespace}/{key}`, 'metadata', 'guestAttributes.put', 'write', putGuest, { json: false }),
    route('GET', `${base}/instance/guest-attributes/{namespace}/{key}`, 'metadata', 'guestAttributes.get', 'read', getGuest, { json: false }),
  ];
}
