/**
 * Which environments an audit-log entry concerns: an index from the GCP resources every spec declares (and
 * every inventory still records) to the environments' keys. Pure. Resource names are read as Cloud Audit Logs
 * writes them: projects/_/buckets/B, projects/P/datasets/D, projects/N/secrets/ID (a project number),
 * projects/P (project IAM), projects/P/zones/Z/instances/VM; anything under them (an object, a table, a
 * secret version) belongs to them.
 */
import type { ResolvedSpec } from '../api/defaults.js';
import { secretId } from '../api/naming.js';
import type { Inventory } from '../api/types.js';

/** An environment by its spec and inventory, or by the references already drawn from them (auditRefs). */
export type IndexedEnvironment = { key: string; spec: ResolvedSpec; inventory?: Inventory } | { key: string; refs: readonly string[] };

/** The fields of a LogEntry the index reads (protoPayload of an AuditLog). */
export interface AuditEntry {
  protoPayload?: {
    serviceName?: string;
    methodName?: string;
    resourceName?: string;
    authenticationInfo?: { principalEmail?: string };
    requestMetadata?: { callerSuppliedUserAgent?: string };
  };
  insertId?: string;
}

type Ref = string;

const bucketRef = (name: string): Ref => `bucket:${name}`;
const datasetRef = (project: string, id: string): Ref => `dataset:${project}/${id}`;
const secretRef = (id: string): Ref => `secret:${id}`;
const projectRef = (project: string): Ref => `project:${project}`;
const instanceRef = (project: string, zone: string, name: string): Ref => `instance:${project}/${zone}/${name}`;

/** What the environment's resources are called in audit logs. */
/** The resources of an environment as audit-log entries name them: its spec's, and what its inventory still holds. */
export function auditRefs(spec: ResolvedSpec, inventory: Inventory | undefined): Ref[] {
  const e = { spec, inventory };
  const project = spec.gcp.projectId;
  const refs: Ref[] = [
    ...spec.buckets.map((b) => bucketRef(b.name)),
    ...spec.datasets.map((d) => datasetRef(project, d.datasetId)),
    ...spec.secrets.map((s) => secretRef(secretId(spec.environment, s.name))),
    ...(spec.iam.some((b) => b.resource === 'project') || e.inventory?.bindings.some((b) => b.resource === 'project') ? [projectRef(project)] : []),
    ...(spec.vm ? [instanceRef(project, spec.vm.zone, spec.vm.name)] : []),
  ];
  for (const r of e.inventory?.resources ?? []) {
    if (r.kind === 'Bucket') refs.push(bucketRef(r.name));
    else if (r.kind === 'Dataset') refs.push(datasetRef(project, r.name));
    else if (r.kind === 'Secret') refs.push(secretRef(r.name));
  }
  return refs;
}

/** The resource an audit entry names, as an index ref; undefined when it is none the operator manages. */
export function refOf(serviceName: string | undefined, resourceName: string | undefined): Ref | undefined {
  if (!resourceName) return undefined;
  const parts = resourceName.split('/');
  switch (serviceName) {
    case 'storage.googleapis.com':
      return parts[0] === 'projects' && parts[2] === 'buckets' && parts[3] ? bucketRef(parts[3]) : undefined;
    case 'bigquery.googleapis.com':
      return parts[0] === 'projects' && parts[2] === 'datasets' && parts[1] && parts[3] ? datasetRef(parts[1], parts[3]) : undefined;
    case 'secretmanager.googleapis.com':
      return parts[0] === 'projects' && parts[2] === 'secrets' && parts[3] ? secretRef(parts[3]) : undefined;
    case 'cloudresourcemanager.googleapis.com':
      return parts[0] === 'projects' && parts.length === 2 && parts[1] ? projectRef(parts[1]) : undefined;
    case 'compute.googleapis.com':
      return parts[0] === 'projects' && parts[2] === 'zones' && parts[4] === 'instances' && parts[1] && parts[3] && parts[5] ? instanceRef(parts[1], parts[3], parts[5]) : undefined;
    default:
      return undefined;
  }
}

export class AuditIndex {
  private readonly byRef = new Map<Ref, Set<string>>();

  constructor(environments: readonly IndexedEnvironment[]) {
    for (const e of environments) {
      for (const ref of 'refs' in e ? e.refs : auditRefs(e.spec, e.inventory)) {
        let keys = this.byRef.get(ref);
        if (!keys) this.byRef.set(ref, (keys = new Set()));
        keys.add(e.key);
      }
    }
  }

  /** The keys of the environments the entry's resource belongs to (none: not a resource the operator manages). */
  environmentsOf(entry: AuditEntry): string[] {
    const ref = refOf(entry.protoPayload?.serviceName, entry.protoPayload?.resourceName);
    return ref ? [...(this.byRef.get(ref) ?? [])] : [];
  }

  get size(): number {
    return this.byRef.size;
  }
}
