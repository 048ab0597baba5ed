/** One error shape for every Google client: the HTTP status, Google's reason, and what was being done. */

export interface CallMeta {
  api: 'storage' | 'bigquery' | 'secretmanager' | 'resourcemanager' | 'compute';
  /** e.g. buckets.get */
  operation: string;
  kind: 'read' | 'write';
  /** e.g. projects/_/buckets/NAME */
  resource: string;
  /** The IAM permission the call needs, e.g. storage.buckets.get. */
  permission: string;
  /** A create: if a retried attempt finds it already exists, the lost first attempt made it. */
  create?: boolean;
  /** Never retried: a retry after a lost answer would repeat the effect (adding a secret version). */
  noRetry?: boolean;
}

/** gRPC codes the gax clients may report, as HTTP statuses. */
const GRPC_TO_HTTP: Record<number, number> = { 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 13: 500, 14: 503, 16: 401 };

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** The HTTP status of any client's error, or undefined for network failures. */
export function httpStatusOf(e: unknown): number | undefined {
  const err = e as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  if (typeof err?.response?.status === 'number') return err.response.status;
  if (typeof err?.code === 'number') return err.code >= 100 ? err.code : GRPC_TO_HTTP[err.code];
  if (typeof err?.status === 'number' && err.status >= 100) return err.status;
  return undefined;
}

function googleMessage(e: unknown): string {
  const message = (e as Error)?.message ?? String(e);
  try {
    const parsed = JSON.parse(message) as { error?: { message?: string } };
    if (parsed.error?.message) return parsed.error.message;
  } catch {
    // not JSON: the client already extracted the message
  }
  return message.split('\n')[0]!.slice(0, 500);
}

export class GcpError extends Error {
  constructor(readonly meta: CallMeta, readonly status: number | undefined, detail: string) {
    super(GcpError.describe(meta, status, detail));
    this.name = 'GcpError';
  }

  static from(meta: CallMeta, e: unknown): GcpError {
    if (e instanceof GcpError) return e;
    return new GcpError(meta, e instanceof TimeoutError ? undefined : httpStatusOf(e), e instanceof TimeoutError ? e.message : googleMessage(e));
  }

  private static describe(meta: CallMeta, status: number | undefined, detail: string): string {
    if (status === 403) {
      return `permission denied: the operator's identity lacks ${meta.permission} on ${meta.resource} (${meta.operation}); grant it a role that includes ${meta.permission}`;
    }
    if (status === 404) return `${meta.resource} not found (${meta.operation}): ${detail}`;
    return `${meta.operation} on ${meta.resource} failed${status ? ` with HTTP ${status}` : ''}: ${detail}`;
  }
}

export const isRetryable = (status: number | undefined, e: unknown) =>
  status === 429 || status === 500 || status === 502 || status === 503 || status === 504
  || (status === undefined && (e instanceof TimeoutError || /ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|fetch failed|network/i.test(String((e as Error)?.message ?? e))));
