/**
 * Cloud Logging v2, the Log Router's sinks: projects/P/sinks create, get, list, update (PUT or PATCH with an
 * updateMask) and delete, as ConfigServiceV2 speaks them over REST (@google-cloud/logging, gcloud logging sinks).
 * The filters a sink routes with are checked at once: one the sandbox's router cannot evaluate is refused with
 * the reason (see logging-filter.ts), rather than accepted and routed differently from Cloud Logging.
 */
import { alreadyExists, invalid, notFound } from './google-error.js';
import { FilterError, parseFilter } from './logging-filter.js';
import { json, route, type Route, type SandboxRequest } from './router.js';
import { isObject, type Json, type ProjectState, type Store } from './store.js';
import { paginate } from './storage-api.js';

const SINK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const DESTINATIONS = [
  /^pubsub\.googleapis\.com\/projects\/[^/]+\/topics\/(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/,
  /^storage\.googleapis\.com\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/,
  /^bigquery\.googleapis\.com\/projects\/[^/]+\/datasets\/[A-Za-z0-9_]+$/,
  /^logging\.googleapis\.com\/projects\/[^/]+\/locations\/[^/]+\/buckets\/[^/]+$/,
];
/** What an update may change; an empty mask means these three, as the API keeps for compatibility. */
const MUTABLE = ['destination', 'filter', 'includeChildren', 'description', 'disabled', 'exclusions', 'bigqueryOptions'];
const DEFAULT_MASK = ['destination', 'filter', 'includeChildren'];
export const SHARED_WRITER = 'serviceAccount:cloud-logs@system.gserviceaccount.com';

/** The service account a project's sink writes as when it asked for a unique writer identity. */
export const uniqueWriter = (project: ProjectState) => `serviceAccount:service-${project.projectNumber}@gcp-sa-logging.iam.gserviceaccount.com`;

/** The project's sinks (a state file from before this API has none). */
export const sinksOf = (project: ProjectState): Record<string, Json> => (project.sinks ??= {});

function checkFilter(filter: unknown, field: string): void {
  if (filter === undefined || filter === null || filter === '') return;
  if (typeof filter !== 'string') throw invalid(`${field} must be a string`);
  if (filter.length > 20000) throw invalid(`${field} is longer than 20000 characters`);
  try {
    parseFilter(filter);
  } catch (e) {
    if (e instanceof FilterError) throw invalid(`${field} is not supported by the sandbox's Log Router: ${e.message}`);
    throw e;
  }
}

function checkSink(sink: Json): void {
  if (typeof sink.destination !== 'string' || sink.destination === '') throw invalid('sink.destination is required');
  if (!DESTINATIONS.some((d) => d.test(sink.destination as string))) {
    throw invalid(`Invalid destination "${sink.destination}": expected pubsub.googleapis.com/projects/P/topics/T, storage.googleapis.com/BUCKET, bigquery.googleapis.com/projects/P/datasets/D or logging.googleapis.com/projects/P/locations/L/buckets/B`);
  }
  checkFilter(sink.filter, 'sink.filter');
  if (sink.exclusions !== undefined && sink.exclusions !== null) {
    if (!Array.isArray(sink.exclusions)) throw invalid('sink.exclusions must be a list');
    sink.exclusions.forEach((x: unknown, i) => {
      if (!isObject(x) || typeof x.filter !== 'string' || x.filter === '') throw invalid(`sink.exclusions[${i}].filter is required`);
      checkFilter(x.filter, `sink.exclusions[${i}].filter`);
    });
  }
  for (const flag of ['disabled', 'includeChildren'] as const) {
    if (sink[flag] !== undefined && sink[flag] !== null && typeof sink[flag] !== 'boolean') throw invalid(`sink.${flag} must be a boolean`);
  }
}

/** Only the LogSink fields a client may set, with empty ones dropped (proto3 JSON sends defaults as absent or empty). */
function settable(body: Json): Json {
  const out: Json = {};
  for (const key of MUTABLE) {
    const v = body[key];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[key] = v;
  }
  return out;
}

/** A boolean query parameter, spelt true or True (gcloud sends Python's). */
const flag = (req: SandboxRequest, name: string) => req.query.get(name)?.toLowerCase() === 'true';

/** The sink routes, stateful in the store's projects. */
export function loggingRoutes(store: Store): Route[] {
  const lookup = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const name = req.params[1]!;
    const sink = sinksOf(project)[name];
    if (!sink) throw notFound(`Sink ${name} does not exist`);
    return { project, name, sink };
  };

  const create = (req: SandboxRequest) => {
    const project = store.project(req.params[0]!);
    const body = isObject(req.body) ? req.body : {};
    const name = body.name;
    if (typeof name !== 'string' || !SINK_NAME.test(name)) {
      throw invalid(`Invalid sink name ${JSON.stringify(name)}: up to 100 letters, digits, "_", "-" and ".", starting with a letter or digit`);
    }
    const sink = settable(body);
    checkSink(sink);
    const sinks = sinksOf(project);
    if (sinks[name]) throw alreadyExists(`Sink ${name} already exists`);
    const now = store.now().toISOString();
    sinks[name] = {
      name, ...sink, writerIdentity: flag(req, 'uniqueWriterIdentity') ? uniqueWriter(project) : SHARED_WRITER, createTime: now, updateTime: now,
    };
    return json(sinks[name]);
  };

  const update = (req: SandboxRequest) => {
    const { project, name, sink } = lookup(req);
    const body = isObject(req.body) ? req.body : {};
    const maskText = req.query.get('updateMask') ?? req.query.getAll('updateMask.paths').join(',');
    const mask = maskText ? maskText.split(',').map((p) => p.trim()).filter(Boolean) : DEFAULT_MASK;
    const unknown = mask.filter((p) => !MUTABLE.includes(p));
    if (unknown.length > 0) throw invalid(`updateMask names fields that cannot be updated: ${unknown.join(', ')} (updatable: ${MUTABLE.join(', ')})`);
    const incoming = settable(body);
    const next: Json = { ...sink };
    for (const path of mask) {
      if (incoming[path] === undefined) delete next[path];
      else next[path] = incoming[path];
    }
    checkSink(next);
    if (flag(req, 'uniqueWriterIdentity')) next.writerIdentity = uniqueWriter(project);
    else if (req.query.get('uniqueWriterIdentity')?.toLowerCase() === 'false' && sink.writerIdentity !== SHARED_WRITER) {
      throw invalid('uniqueWriterIdentity cannot change from true to false');
    }
    next.name = name;
    next.updateTime = store.now().toISOString();
    sinksOf(project)[name] = next;
    return json(next);
  };

  const list = (req: SandboxRequest) => {
    const sinks = sinksOf(store.project(req.params[0]!));
    const page = paginate(Object.keys(sinks).sort(), req.query.get('pageSize'), req.query.get('pageToken'));
    return json({ sinks: page.items.map((n) => sinks[n]), ...(page.next ? { nextPageToken: page.next } : {}) });
  };

  const remove = (req: SandboxRequest) => {
    const { project, name } = lookup(req);
    delete sinksOf(project)[name];
    return json({});
  };

  const base = '/v2/projects/{project}/sinks';
  return [
    route('POST', base, 'logging', 'sinks.create', 'write', create),
    route('GET', base, 'logging', 'sinks.list', 'read', list),
    route('GET', `${base}/{sink}`, 'logging', 'sinks.get', 'read', (req) => json(lookup(req).sink)),
    route('PUT', `${base}/{sink}`, 'logging', 'sinks.update', 'write', update),
    route('PATCH', `${base}/{sink}`, 'logging', 'sinks.update', 'write', update),
    route('DELETE', `${base}/{sink}`, 'logging', 'sinks.delete', 'write', remove),
  ];
}
