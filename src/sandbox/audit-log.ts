/**
 * Admin Activity audit-log entries for the writes the sandbox serves, in the shape Cloud Audit Logs writes them
 * (a LogEntry whose protoPayload is a google.cloud.audit.AuditLog): the service and method names Google uses,
 * the resource name and monitored resource, who did it and with which user agent, and for IAM changes the
 * policy delta. Objects' uploads and deletes are Data Access, off by default in GCP, so they have none; reads
 * have none.
 */
import { randomBytes } from 'node:crypto';
import type { Route, SandboxRequest, SandboxResponse } from './router.js';
import { isObject, type Binding, type Json, type ProjectState, type Store } from './store.js';

/**
 * The header a test sets to say who makes a request; without it the write is that of the service account whose
 * minted token the request carries (principals.ts), and without such a token "someone else"'s.
 */
export const PRINCIPAL_HEADER = 'x-sandbox-principal';
export const SOMEONE_ELSE = 'someone-else@example.com';
export const ACTIVITY_LOG = 'cloudaudit.googleapis.com%2Factivity';

export interface BindingDelta {
  action: 'ADD' | 'REMOVE';
  role: string;
  member: string;
}

export interface AuditLog {
  '@type': 'type.googleapis.com/google.cloud.audit.AuditLog';
  status: Json;
  authenticationInfo: { principalEmail: string };
  requestMetadata: {
    callerIp: string;
    callerSuppliedUserAgent?: string;
    requestAttributes: { time: string; auth: Json };
    destinationAttributes: Json;
  };
  serviceName: string;
  methodName: string;
  authorizationInfo: { resource: string; permission: string; granted: true; resourceAttributes: Json }[];
  resourceName: string;
  serviceData?: { '@type': 'type.googleapis.com/google.iam.v1.logging.AuditData'; policyDelta: { bindingDeltas: BindingDelta[] } };
  metadata?: Json;
  resourceLocation?: { currentLocations: string[] };
}

export interface AuditLogEntry {
  protoPayload: AuditLog;
  insertId: string;
  resource: { type: string; labels: Record<string, string> };
  timestamp: string;
  severity: 'NOTICE';
  /** projects/PROJECT_ID/logs/cloudaudit.googleapis.com%2Factivity */
  logName: string;
  receiveTimestamp: string;
  operation?: { id: string; producer: string; first: boolean; last: boolean };
}

/** What one write is, known before its handler runs (so a delete still knows what it deletes). */
interface WriteDescription {
  project: ProjectState;
  serviceName: string;
  methodName: string;
  resourceName: string;
  permission: string;
  resource: { type: string; labels: Record<string, string> };
  location?: string;
  /** The IAM policy's bindings before the write, for the delta. */
  policyBefore?: Binding[];
  policyAfter?: () => Binding[] | undefined;
  /** Completes the description from the handler's answer (a created instance's id, a version's name). */
  complete?: (description: WriteDescription, response: SandboxResponse) => void;
  metadata?: Json;
  operation?: boolean;
}

type Describe = (req: SandboxRequest, store: Store) => WriteDescription | undefined;

const body = (req: SandboxRequest): Json => (isObject(req.body) ? req.body : {});
const responseBody = (r: SandboxResponse): Json => (isObject(r.body) ? r.body : {});

function describeBucket(method: string, permission: string, iam = false): Describe {
  return (req, store) => {
    const name = req.params[0]!;
    const bucket = store.data.buckets[name];
    if (!bucket) return undefined;
    const project = store.project(String(bucket.resource.projectNumber));
    const location = String(bucket.resource.location ?? 'US').toLowerCase();
    return {
      project, serviceName: 'storage.googleapis.com', methodName: method, resourceName: `projects/_/buckets/${name}`, permission,
      resource: { type: 'gcs_bucket', labels: { project_id: project.projectId, bucket_name: name, location } }, location,
      ...(iam ? { policyBefore: structuredClone(bucket.policy.bindings), policyAfter: () => store.data.buckets[name]?.policy.bindings } : {}),
    };
  };
}

const insertBucket: Describe = (req, store) => {
  const projectId = req.query.get('project');
  const name = body(req).name;
  if (!projectId || typeof name !== 'string') return undefined;
  const project = store.project(projectId);
  const location = String(body(req).location ?? 'US').toLowerCase();
  return {
    project, serviceName: 'storage.googleapis.com', methodName: 'storage.buckets.create', resourceName: `projects/_/buckets/${name}`,
    permission: 'storage.buckets.create', resource: { type: 'gcs_bucket', labels: { project_id: project.projectId, bucket_name: name, location } }, location,
  };
};

function describeDataset(method: string, permission: string, event: string, reason: string): Describe {
  return (req, store) => {
    const project = store.project(req.params[0]!);
    const datasetId = req.params[1] ?? (isObject(body(req).datasetReference) ? (body(req).datasetReference as Json).datasetId : undefined);
    if (typeof datasetId !== 'string') return undefined;
    const resourceName = `projects/${project.projectId}/datasets/${datasetId}`;
    return {
      project, serviceName: 'bigquery.googleapis.com', methodName: `google.cloud.bigquery.v2.DatasetService.${method}`, resourceName, permission,
      resource: { type: 'bigquery_dataset', labels: { project_id: project.projectId, dataset_id: datasetId } },
      metadata: { '@type': 'type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata', [event]: { reason } },
    };
  };
}

function describeSecret(method: string, permission: string, options: { version?: boolean; iam?: boolean } = {}): Describe {
  return (req, store) => {
    const project = store.project(req.params[0]!);
    const id = req.params[1] ?? req.query.get('secretId');
    if (!id) return undefined;
    const secret = project.secrets[id];
    const methodName = `google.cloud.secretmanager.v1.SecretManagerService.${method}`;
    const secretName = `projects/${project.projectNumber}/secrets/${id}`;
    return {
      project, serviceName: 'secretmanager.googleapis.com', methodName, permission,
      resourceName: options.version ? `${secretName}/versions/${req.params[2]!}` : secretName,
      resource: { type: 'audited_resource', labels: { service: 'secretmanager.googleapis.com', method: methodName, project_id: project.projectId } },
      ...(options.iam && secret ? { policyBefore: structuredClone(secret.policy.bindings), policyAfter: () => project.secrets[id]?.policy.bindings } : {}),
      // A version addressed as "latest" is named by its number in the log, as in the answer.
      ...(options.version ? { complete: (d: WriteDescription, r: SandboxResponse) => {
        if (typeof responseBody(r).name === 'string') d.resourceName = responseBody(r).name as string;
      } } : {}),
    };
  };
}

const setProjectPolicy: Describe = (req, store) => {
  const project = store.project(req.params[0]!);
  return {
    project, serviceName: 'cloudresourcemanager.googleapis.com', methodName: 'SetIamPolicy', resourceName: `projects/${project.projectId}`,
    permission: 'resourcemanager.projects.setIamPolicy', resource: { type: 'project', labels: { project_id: project.projectId } },
    policyBefore: structuredClone(project.policy.bindings), policyAfter: () => project.policy.bindings,
  };
};

function describeInstance(method: string): Describe {
  return (req, store) => {
    const [projectId, zone, name] = req.params as [string, string, string | undefined];
    const project = store.project(projectId);
    const instanceName = name ?? body(req).name;
    if (typeof instanceName !== 'string') return undefined;
    const existing = project.instances[`${zone}/${instanceName}`];
    return {
      project, serviceName: 'compute.googleapis.com', methodName: `v1.compute.instances.${method}`, permission: `compute.instances.${method}`,
      resourceName: `projects/${project.projectId}/zones/${zone}/instances/${instanceName}`,
      resource: { type: 'gce_instance', labels: { project_id: project.projectId, zone, instance_id: String(existing?.resource.id ?? '') } },
      operation: true,
      complete: (d, r) => {
        const targetId = responseBody(r).targetId;
        if (!d.resource.labels.instance_id && targetId !== undefined) d.resource.labels.instance_id = String(targetId);
      },
    };
  };
}

function describeSink(method: string, permission: string): Describe {
  return (req, store) => {
    const project = store.project(req.params[0]!);
    const name = req.params[1] ?? body(req).name;
    if (typeof name !== 'string') return undefined;
    const destination = String((project.sinks?.[name]?.destination ?? body(req).destination) ?? '');
    return {
      project, serviceName: 'logging.googleapis.com', methodName: `google.logging.v2.ConfigServiceV2.${method}`, permission,
      resourceName: `projects/${project.projectId}/sinks/${name}`,
      resource: { type: 'logging_sink', labels: { project_id: project.projectId, name, destination } },
    };
  };
}

/** IAM service accounts: created (named by its project, as IAM logs it), deleted, their IAM policy set. */
function describeServiceAccount(method: string, permission: string, iam = false): Describe {
  return (req, store) => {
    const creating = method === 'CreateServiceAccount';
    let project: ProjectState;
    let email: string;
    let id = '';
    if (creating) {
      const accountId = body(req).accountId;
      if (req.params[0] === '-' || typeof accountId !== 'string') return undefined;
      project = store.project(req.params[0]!);
      email = `${accountId}@${project.projectId}.iam.gserviceaccount.com`;
    } else {
      const found = store.serviceAccount(req.params[1]!);
      if (!found) return undefined;
      project = found.project;
      email = String(found.account.resource.email);
      id = String(found.account.resource.uniqueId);
    }
    const account = () => store.serviceAccount(email)?.account;
    return {
      project, serviceName: 'iam.googleapis.com', methodName: `google.iam.admin.v1.${method}`, permission,
      resourceName: creating ? `projects/${project.projectId}` : `projects/-/serviceAccounts/${id}`,
      resource: { type: 'service_account', labels: { project_id: project.projectId, email_id: email, unique_id: id } },
      ...(iam ? { policyBefore: structuredClone(account()?.policy.bindings ?? []), policyAfter: () => account()?.policy.bindings } : {}),
      ...(creating ? { complete: (d: WriteDescription, r: SandboxResponse) => {
        if (typeof responseBody(r).uniqueId === 'string') d.resource.labels.unique_id = responseBody(r).uniqueId as string;
      } } : {}),
    };
  };
}

/** The audited writes, by the route's api and operation. */
const DESCRIBE: Record<string, Describe> = {
  'storage/buckets.insert': insertBucket,
  'storage/buckets.patch': describeBucket('storage.buckets.update', 'storage.buckets.update'),
  'storage/buckets.update': describeBucket('storage.buckets.update', 'storage.buckets.update'),
  'storage/buckets.delete': describeBucket('storage.buckets.delete', 'storage.buckets.delete'),
  'storage/buckets.setIamPolicy': describeBucket('storage.setIamPermissions', 'storage.buckets.setIamPolicy', true),
  'bigquery/datasets.insert': describeDataset('InsertDataset', 'bigquery.datasets.create', 'datasetCreation', 'CREATE'),
  'bigquery/datasets.patch': describeDataset('PatchDataset', 'bigquery.datasets.update', 'datasetChange', 'PATCH'),
  'bigquery/datasets.update': describeDataset('UpdateDataset', 'bigquery.datasets.update', 'datasetChange', 'UPDATE'),
  'bigquery/datasets.delete': describeDataset('DeleteDataset', 'bigquery.datasets.delete', 'datasetDeletion', 'DELETE'),
  'secretmanager/secrets.create': describeSecret('CreateSecret', 'secretmanager.secrets.create'),
  'secretmanager/secrets.patch': describeSecret('UpdateSecret', 'secretmanager.secrets.update'),
  'secretmanager/secrets.delete': describeSecret('DeleteSecret', 'secretmanager.secrets.delete'),
  'secretmanager/secrets.addVersion': describeSecret('AddSecretVersion', 'secretmanager.versions.add'),
  'secretmanager/secrets.setIamPolicy': describeSecret('SetIamPolicy', 'secretmanager.secrets.setIamPolicy', { iam: true }),
  'secretmanager/versions.enable': describeSecret('EnableSecretVersion', 'secretmanager.versions.enable', { version: true }),
  'secretmanager/versions.disable': describeSecret('DisableSecretVersion', 'secretmanager.versions.disable', { version: true }),
  'secretmanager/versions.destroy': describeSecret('DestroySecretVersion', 'secretmanager.versions.destroy', { version: true }),
  'resourcemanager/projects.setIamPolicy': setProjectPolicy,
  'compute/instances.insert': describeInstance('insert'),
  'compute/instances.setMetadata': describeInstance('setMetadata'),
  'compute/instances.setLabels': describeInstance('setLabels'),
  'compute/instances.delete': describeInstance('delete'),
  'logging/sinks.create': describeSink('CreateSink', 'logging.sinks.create'),
  'logging/sinks.update': describeSink('UpdateSink', 'logging.sinks.update'),
  'logging/sinks.delete': describeSink('DeleteSink', 'logging.sinks.delete'),
  'iam/serviceAccounts.create': describeServiceAccount('CreateServiceAccount', 'iam.serviceAccounts.create'),
  'iam/serviceAccounts.delete': describeServiceAccount('DeleteServiceAccount', 'iam.serviceAccounts.delete'),
  'iam/serviceAccounts.setIamPolicy': describeServiceAccount('SetIAMPolicy', 'iam.serviceAccounts.setIamPolicy', true),
};

/** The operations that write an Admin Activity entry, as "api/operation". */
export const AUDITED_OPERATIONS = Object.keys(DESCRIBE);

/** ADD and REMOVE per (role, member), as the IAM AuditData's policyDelta lists them. */
export function bindingDeltas(before: Binding[], after: Binding[]): BindingDelta[] {
  const pairs = (bindings: Binding[]) => new Set(bindings.flatMap((b) => b.members.map((m) => `${b.role}\u0000${m}`)));
  const was = pairs(before);
  const now = pairs(after);
  const delta = (action: BindingDelta['action'], key: string): BindingDelta => {
    const [role, member] = key.split('\u0000') as [string, string];
    return { action, role, member };
  };
  return [
    ...[...now].filter((k) => !was.has(k)).sort().map((k) => delta('ADD', k)),
    ...[...was].filter((k) => !now.has(k)).sort().map((k) => delta('REMOVE', k)),
  ];
}

const header = (req: SandboxRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** A LogEntry's insertId: unique, short, lowercase, as the real ones look. */
const insertId = () => randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, 'x');

/** The request's audit, prepared before its handler runs; finish() builds the entry once it succeeded. */
export interface PreparedAudit {
  finish(response: SandboxResponse): AuditLogEntry;
}

/**
 * An audited write's entry in the making, or undefined for a read or a write Admin Activity does not log.
 * callerEmail: the service account of the minted token the request carried, if any (the principal header wins).
 */
export function prepareAudit(route: Route, req: SandboxRequest, store: Store, callerIp: string, callerEmail?: string): PreparedAudit | undefined {
  if (route.kind !== 'write') return undefined;
  const describe = DESCRIBE[`${route.api}/${route.op}`];
  const description = describe?.(req, store);
  if (!description) return undefined;
  const principalEmail = header(req, PRINCIPAL_HEADER) || callerEmail || SOMEONE_ELSE;
  const userAgent = header(req, 'user-agent');
  return {
    finish: (response) => {
      description.complete?.(description, response);
      const time = store.now().toISOString();
      const d = description;
      const after = d.policyBefore ? d.policyAfter?.() : undefined;
      const deltas = d.policyBefore && after ? bindingDeltas(d.policyBefore, after) : undefined;
      const id = insertId();
      return {
        protoPayload: {
          '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
          status: {},
          authenticationInfo: { principalEmail },
          requestMetadata: {
            callerIp,
            ...(userAgent ? { callerSuppliedUserAgent: userAgent } : {}),
            requestAttributes: { time, auth: {} },
            destinationAttributes: {},
          },
          serviceName: d.serviceName,
          methodName: d.methodName,
          authorizationInfo: [{ resource: d.resourceName, permission: d.permission, granted: true, resourceAttributes: {} }],
          resourceName: d.resourceName,
          ...(deltas ? { serviceData: { '@type': 'type.googleapis.com/google.iam.v1.logging.AuditData', policyDelta: { bindingDeltas: deltas } } } : {}),
          ...(d.metadata ? { metadata: d.metadata } : {}),
          ...(d.location ? { resourceLocation: { currentLocations: [d.location] } } : {}),
        },
        insertId: id,
        resource: d.resource,
        timestamp: time,
        severity: 'NOTICE',
        logName: `projects/${d.project.projectId}/logs/${ACTIVITY_LOG}`,
        receiveTimestamp: time,
        ...(d.operation ? { operation: { id: `operation-${id}`, producer: 'compute.googleapis.com', first: true, last: true } } : {}),
      };
    },
  };
}
