/**
 * Google's JSON error body: {"error":{"code","message","status","errors":[{"reason","domain","message"}]}}, plus
 * "details" (google.rpc.ErrorInfo and the like) where the API gives them.
 */

const STATUS_BY_CODE: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export interface ApiErrorExtras {
  /** error.details, as the gRPC-transcoded APIs give them (e.g. a google.rpc.ErrorInfo). */
  details?: Record<string, unknown>[];
  /** Headers of the answer (e.g. WWW-Authenticate on a 401). */
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly details: Record<string, unknown>[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly code: number,
    message: string,
    readonly reason: string,
    readonly status: string = STATUS_BY_CODE[code] ?? 'UNKNOWN',
    extras: ApiErrorExtras = {},
  ) {
    super(message);
    this.details = extras.details;
    this.headers = extras.headers;
  }

  toBody(): { error: { code: number; message: string; status: string; errors: { message: string; domain: string; reason: string }[]; details?: Record<string, unknown>[] } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        status: this.status,
        errors: [{ message: this.message, domain: 'global', reason: this.reason }],
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export const invalid = (message: string) => new ApiError(400, message, 'invalid');
export const badRequest = (message: string) => new ApiError(400, message, 'badRequest');
export const notFound = (message: string) => new ApiError(404, message, 'notFound');
export const alreadyExists = (message: string, reason = 'conflict') => new ApiError(409, message, reason);
export const aborted = (message: string) => new ApiError(409, message, 'aborted', 'ABORTED');
export const conditionNotMet = (message: string) => new ApiError(412, message, 'conditionNotMet');
export const failedPrecondition = (message: string) => new ApiError(400, message, 'failedPrecondition', 'FAILED_PRECONDITION');
export const forbidden = (message: string) => new ApiError(403, message, 'forbidden');
