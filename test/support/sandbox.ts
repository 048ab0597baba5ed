/** A sandbox per test file, with the official clients pointed at it. */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createGcpClients, type GcpClients } from '../../src/gcp/clients.js';
import { createComputeClients, type ComputeClients } from '../../src/gcp/compute-clients.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.js';

export const PROJECT = 'job-match-v0';
export const ZONE = 'europe-west1-b';

export interface SandboxFixture {
  sandbox: Sandbox;
  clients: GcpClients;
  /** Only with useSandbox(options, { compute: true }): importing Compute costs a second. */
  compute: ComputeClients;
  url: string;
}

/** Starts one sandbox for the file; stats are reset before each test. */
export function useSandbox(options: SandboxOptions = {}, { compute = false } = {}): SandboxFixture {
  const fixture = {} as SandboxFixture;
  beforeAll(async () => {
    fixture.sandbox = await startSandbox(options);
    fixture.url = fixture.sandbox.url;
    fixture.clients = createGcpClients({ projectId: PROJECT, endpoint: fixture.sandbox.url });
    if (compute) fixture.compute = await createComputeClients(fixture.sandbox.url);
  });
  beforeEach(() => fixture.sandbox.stats.reset());
  afterAll(async () => fixture.sandbox?.close());
  return fixture;
}

/** Raw HTTP against the sandbox, for wire formats the clients hide. */
export async function http(url: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const { json, ...rest } = init;
  const response = await fetch(url, {
    ...rest,
    ...(json !== undefined ? { body: JSON.stringify(json), headers: { 'content-type': 'application/json', ...(rest.headers ?? {}) } } : {}),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text, headers: response.headers };
}

/** The HTTP status of a client error, whichever shape the client gives it. */
export async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (e) {
    const err = e as { code?: number | string; status?: number; response?: { status?: number } };
    return Number(err.response?.status ?? (typeof err.code === 'number' && err.code >= 100 ? err.code : err.status ?? err.code));
  }
  throw new Error('expected the call to fail');
}
