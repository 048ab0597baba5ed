/** Runs plan/apply in-process against a sandbox and keeps every output, for assertions and leak checks. */
import { Readable } from 'node:stream';
import { runReconcile, type ReconcileRun } from '../../src/cli/reconcile-command.js';
import type { RetryPolicy } from '../../src/gcp/gcp-caller.js';

export interface EngineRun extends ReconcileRun {
  stdout: string;
  stderr: string;
  logLines: Record<string, any>[];
}

export const FAST_RETRY: Partial<RetryPolicy> = { baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 2000 };

/** Every byte any run printed, for the leak test. */
export const allOutput: string[] = [];

export async function engine(mode: 'plan' | 'apply', endpoint: string, manifest: string, extra: { output?: 'json' | 'markdown'; retry?: Partial<RetryPolicy>; redeploy?: boolean } = {}): Promise<EngineRun> {
  let stdout = '';
  let stderr = '';
  const run = await runReconcile(
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin: Readable.from([manifest]), env: {} },
    mode,
    { filename: ['-'], gcpEndpoint: endpoint, retry: extra.retry ?? FAST_RETRY, ...(extra.output ? { output: extra.output } : {}), ...(extra.redeploy ? { redeploy: true } : {}) },
  );
  allOutput.push(stdout, stderr, JSON.stringify(run.reports));
  const logLines = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
  return { ...run, stdout, stderr, logLines };
}
