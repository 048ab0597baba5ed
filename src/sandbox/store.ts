/** The sandbox's state: every emulated resource, as the JSON the APIs return, plus what they hide (and the access tokens minted). */
import { EventEmitter } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface Binding {
  role: string;
  members: string[];
  condition?: Json;
}

export interface IamPolicy {
  version: number;
  /** Incremented on every change; the etag is derived from it. */
  serial: number;
  bindings: Binding[];
}

export interface BucketState {
  resource: Json;
  policy: IamPolicy;
  objects: Record<string, Json>;
}

export interface DatasetState {
  resource: Json;
  tables: string[];
}

export interface VersionState {
  resource: Json;
  /** base64 payload; never returned except by :access. */
  data: string;
}

export interface SecretState {
  resource: Json;
  versions: VersionState[];
  policy: IamPolicy;
}

export interface InstanceState {
  resource: Json;
  /** "namespace/key" → value */
  guestAttributes: Record<string, string>;
}

export interface ServiceAccountState {
  /** The IAM API's ServiceAccount resource. */
  resource: Json;
  /** The service account's own IAM policy (who may act as it, mint its tokens...). */
  policy: IamPolicy;
}

/** An access token minted by IAM Credentials' generateAccessToken. */
export interface AccessTokenState {
  /** The service account it stands for. */
  email: string;
  scopes: string[];
  /** RFC 3339, on the sandbox's clock (Store.now()). */
  expireTime: string;
}

export interface ProjectState {
  projectId: string;
  projectNumber: string;
  policy: IamPolicy;
  datasets: Record<string, DatasetState>;
  secrets: Record<string, SecretState>;
  /** "zone/name" → instance */
  instances: Record<string, InstanceState>;
  operations: Record<string, Json>;
  /** Log Router sinks by name (absent in state files written before the Logging API). */
  sinks?: Record<string, Json>;
  /** Service accounts by accountId (absent in state files written before the IAM API). */
  serviceAccounts?: Record<string, ServiceAccountState>;
}

export interface StateData {
  projects: Record<string, ProjectState>;
  /** Bucket names are global. */
  buckets: Record<string, BucketState>;
  serial: number;
  /** Access tokens minted by generateAccessToken, by token (absent until the first one). */
  accessTokens?: Record<string, AccessTokenState>;
}

export const emptyPolicy = (bindings: Binding[] = []): IamPolicy => ({ version: 1, serial: 1, bindings });

/** The etag Google puts on IAM policies: base64 bytes (0x08 + a varint), as "CAE=" for the first. */
export function policyEtag(policy: IamPolicy): string {
  const bytes = [0x08];
  let n = policy.serial;
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes).toString('base64');
}

export function policyBody(policy: IamPolicy): Json {
  return { version: policy.version, etag: policyEtag(policy), bindings: structuredClone(policy.bindings) };
}

export class Store {
  data: StateData;
  /** Seconds added to the wall clock, so tests can age resources without waiting. */
  clockOffsetSeconds = 0;
  /**
   * Fires "metadata:<project>/<zone>/<name>" when an instance's metadata changes, "write" on any write, and "save" when
   * only what persistence keeps changed (a minted access token: no resource changed).
   */
  readonly events = new EventEmitter();

  constructor(data?: StateData) {
    this.data = data ?? { projects: {}, buckets: {}, serial: 0 };
    this.events.setMaxListeners(0);
  }

  now(): Date {
    return new Date(Date.now() + this.clockOffsetSeconds * 1000);
  }

  nextId(): string {
    this.data.serial += 1;
    return String(this.data.serial);
  }

  /** A project by id or number; projects come into being on first use, as if they had always existed. */
  project(idOrNumber: string): ProjectState {
    const existing = this.data.projects[idOrNumber]
      ?? Object.values(this.data.projects).find((p) => p.projectNumber === idOrNumber);
    if (existing) return existing;
    return this.createProject(idOrNumber);
  }

  createProject(projectId: string, projectNumber?: string): ProjectState {
    const number = projectNumber ?? String(100000000000 + (Number.parseInt(createHash('sha256').update(projectId).digest('hex').slice(0, 8), 16) % 899999999999));
    const project: ProjectState = {
      projectId,
      projectNumber: number,
      policy: emptyPolicy([{ role: 'roles/owner', members: ['user:owner@example.com'] }]),
      datasets: {},
      secrets: {},
      instances: {},
      operations: {},
      sinks: {},
    };
    this.data.projects[projectId] = project;
    return project;
  }

  /** A service account by email or uniqueId, in whichever project it lives. */
  serviceAccount(emailOrUniqueId: string): { project: ProjectState; accountId: string; account: ServiceAccountState } | undefined {
    const key = emailOrUniqueId.toLowerCase();
    for (const project of Object.values(this.data.projects)) {
      for (const [accountId, account] of Object.entries(project.serviceAccounts ?? {})) {
        if (String(account.resource.email).toLowerCase() === key || account.resource.uniqueId === emailOrUniqueId) return { project, accountId, account };
      }
    }
    return undefined;
  }

  /** Mark a change: persistence and waiters listen. */
  changed(): void {
    this.events.emit('write');
  }

  /** Mark a change that only persistence cares about (a minted token): "save", not "write". */
  touched(): void {
    this.events.emit('save');
  }
}

export const randomEtag = () => randomBytes(8).toString('base64');

/** A short stable hash, as the metadata server's ETag header. */
export const contentEtag = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 16);
