/** Route table: method + path pattern → operation, classified as a read or a write for the request counters. */

export type ApiName = 'storage' | 'bigquery' | 'secretmanager' | 'resourcemanager' | 'compute' | 'metadata' | 'logging' | 'iam' | 'iamcredentials';

export interface SandboxRequest {
  method: string;
  /** Path with %3A decoded to ":" (GAPIC custom verbs). */
  path: string;
  params: string[];
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  raw: Buffer;
  /** The parsed JSON body, or undefined when there is none. */
  body: unknown;
  /** http://host:port of this sandbox, for selfLinks. */
  baseUrl: string;
  /** Aborted when the client goes away or the sandbox stops (long polls listen to it). */
  signal: AbortSignal;
  /**
   * Who makes the request, as an IAM member (principals.ts): "serviceAccount:EMAIL" of a minted token, else the
   * operator (OPERATOR_PRINCIPAL), as for the seed's own calls.
   */
  principal: string;
}

export interface SandboxResponse {
  status: number;
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: string;
  pattern: RegExp;
  api: ApiName;
  op: string;
  kind: 'read' | 'write';
  /** Parse the body as JSON (false for uploads and metadata-server PUTs). */
  json?: boolean;
  handle: (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>;
}

export type RouteMatch = { route: Route; params: string[] } | { methodNotAllowed: true } | undefined;

export function route(method: string, path: string, api: ApiName, op: string, kind: 'read' | 'write',
  handle: Route['handle'], options: { json?: boolean } = {}): Route {
  // {x} is one path segment up to a ":verb"; {x*} is the rest of the path.
  const source = path.replace(/\{[a-z]+\*\}/gi, '(.+)').replace(/\{[a-z]+\}/gi, '([^/:]+)');
  return { method, pattern: new RegExp(`^${source}$`), api, op, kind, handle, json: options.json ?? true };
}

export function matchRoute(routes: Route[], method: string, path: string): RouteMatch {
  let pathMatched = false;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    if (r.method !== method) {
      pathMatched = true;
      continue;
    }
    try {
      return { route: r, params: m.slice(1).map((p) => decodeURIComponent(p)) };
    } catch {
      return undefined;
    }
  }
  return pathMatched ? { methodNotAllowed: true } : undefined;
}

export const json = (body: unknown, status = 200): SandboxResponse => ({ status, body });
export const noContent = (): SandboxResponse => ({ status: 204 });
