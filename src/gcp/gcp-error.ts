/** One error shape for every Google client: the HTTP status, Google's status and reason, and what was being done. */

export interface CallMeta {
  api: 'storage' | 'bigquery' | 'secretmanager' | 'resourcemanager' | 'compute';
  /** e.g. buckets.get */
  operation: string;
  kind: 'read' | 'write';
  /** e.g. projects/_/buckets/NAME */
  resource: string;
  /** The IAM permission the call needs, e.g. storage.buckets.get. */
  permission: string;
  /** Never retried: a retry after a lost answer would repeat the effect (adding a secret version). */
  noRetry?: boolean;
}

/** What Google said, kept as data for the report and the JSON: never flattened into one string. */
export interface ErrorInfo {
  code?: number;
  status?: string;
  reason?: string;
  message: string;
}

/** gRPC codes the gax clients may report, as HTTP statuses and Google status names. */
const GRPC: Record<number, [number, string]> = {
  1: [499, 'CANCELLED'], 3: [400, 'INVALID_ARGUMENT'], 4: [504, 'DEADLINE_EXCEEDED'], 5: [404, 'NOT_FOUND'], 6: [409, 'ALREADY_EXISTS'],
  7: [403, 'PERMISSION_DENIED'], 8: [429, 'RESOURCE_EXHAUSTED'], 9: [400, 'FAILED_PRECONDITION'], 10: [409, 'ABORTED'],
  13: [500, 'INTERNAL'], 14: [503, 'UNAVAILABLE'], 16: [401, 'UNAUTHENTICATED'],
};

export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** The run was cancelled (its deadline passed, or it was stopped): the request was abandoned. */
export class AbortedError extends Error {
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : 'cancelled');
    this.name = 'AbortedError';
  }
}

type Raw = {
  code?: unknown; status?: unknown; reason?: unknown; message?: unknown; errors?: { reason?: string }[];
  response?: { status?: unknown; data?: unknown }; cause?: { code?: unknown }; statusDetails?: { reason?: string }[];
};

/** The HTTP status of any client's error, or undefined for network failures. */
export function httpStatusOf(e: unknown): number | undefined {
  const err = e as Raw;
  if (typeof err?.response?.status === 'number') return err.response.status;
  if (typeof err?.code === 'number') return err.code >= 100 ? err.code : GRPC[err.code]?.[0];
  if (typeof err?.status === 'number' && err.status >= 100) return err.status;
  return undefined;
}

function googleBody(e: Raw): { message?: string; status?: string; errors?: { reason?: string }[]; details?: { reason?: string }[] } | undefined {
  for (const candidate of [e?.response?.data, e?.message]) {
    try {
      const parsed = (typeof candidate === 'string' ? JSON.parse(candidate) : candidate) as { error?: Record<string, unknown> } | undefined;
      if (parsed?.error && typeof parsed.error === 'object') return parsed.error as never;
    } catch {
      // not JSON: the client already extracted the message
    }
  }
  return undefined;
}

/** Google's status, reason and message out of any client's error. */
export function errorInfoOf(e: unknown): ErrorInfo {
  const err = e as Raw;
  const body = googleBody(err);
  const code = httpStatusOf(e);
  const grpc = typeof err?.code === 'number' && err.code < 100 ? GRPC[err.code]?.[1] : undefined;
  const reason = body?.errors?.[0]?.reason ?? body?.details?.find((d) => d.reason)?.reason
    ?? err?.errors?.[0]?.reason ?? err?.statusDetails?.find((d) => d?.reason)?.reason ?? (typeof err?.reason === 'string' ? err.reason : undefined);
  const status = body?.status ?? grpc ?? (typeof err?.status === 'string' ? err.status : undefined);
  const raw = body?.message ?? (err instanceof Error ? err.message : String(e));
  const message = raw.replace(/^\d+ [A-Z_]+: /, '').split('\n')[0]!.slice(0, 500);
  return { ...(code !== undefined ? { code } : {}), ...(status ? { status } : {}), ...(reason ? { reason } : {}), message };
}

const NETWORK = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/;

/** The endpoint could not be reached at all (refused, unknown host): one error for the run, not one per resource. */
export function isUnreachable(e: unknown): boolean {
  const err = e as Raw;
  return NETWORK.test(`${String(err?.cause?.code ?? '')} ${String((e as Error)?.message ?? '')} ${String(err?.code ?? '')}`);
}

export class GcpError extends Error {
  readonly status: number | undefined;
  readonly info: ErrorInfo;
  readonly unreachable: boolean;

  constructor(readonly meta: CallMeta, info: ErrorInfo, unreachable = false) {
    super(GcpError.describe(meta, info));
    this.name = 'GcpError';
    this.info = info;
    this.status = info.code;
    this.unreachable = unreachable;
  }

  static from(meta: CallMeta, e: unknown): GcpError {
    if (e instanceof GcpError) return e;
    if (e instanceof TimeoutError || e instanceof AbortedError) return new GcpError(meta, { status: e instanceof TimeoutError ? 'DEADLINE_EXCEEDED' : 'CANCELLED', message: e.message });
    return new GcpError(meta, errorInfoOf(e), isUnreachable(e));
  }

  private static describe(meta: CallMeta, info: ErrorInfo): string {
    if (info.code === 403 && (info.reason === 'SERVICE_DISABLED' || info.reason === 'accessNotConfigured')) {
      return `${meta.operation} on ${meta.resource}: the ${meta.api} API is disabled in this project; enable it with: gcloud services enable ${meta.api}.googleapis.com (${info.message})`;
    }
    if (info.code === 403) {
      const named = /\b(?:storage|bigquery|secretmanager|resourcemanager|compute|iam)\.[a-zA-Z]+\.[a-zA-Z]+\b/.exec(info.message)?.[0];
      const permission = named ?? meta.permission;
      return `permission denied (${info.status ?? 'PERMISSION_DENIED'}${info.reason ? `, ${info.reason}` : ''}): the operator's identity lacks ${permission} on ${meta.resource} (${meta.operation}); grant it a role that includes ${permission}. Google said: ${info.message}`;
    }
    if (info.code === 404) return `${meta.resource} not found (${meta.operation}): ${info.message}`;
    return `${meta.operation} on ${meta.resource} failed${info.code ? ` with HTTP ${info.code}` : ''}${info.status ? ` ${info.status}` : ''}: ${info.message}`;
  }
}

const RATE_REASONS = ['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded', 'RATE_LIMIT_EXCEEDED'];

export const isRetryable = (status: number | undefined, e: unknown) => {
  if (status === 429 || status === 500 || status === 502 || status === 503 || status === 504) return true;
  if (status === 403) return RATE_REASONS.includes(errorInfoOf(e).reason ?? '');
  return status === undefined && !isUnreachable(e)
    && (e instanceof TimeoutError || /ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|fetch failed|network|aborted/i.test(String((e as Error)?.message ?? e)));
};
