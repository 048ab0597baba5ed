/** `plan` and `apply`: load manifests, reconcile every environment through the one engine, print, exit per API.md. */
import { createActionLogger } from '../engine/action-log.js';
import { PolicyWriter } from '../engine/policy-writer.js';
import { reconcileEnvironment, type ReconcileReport } from '../engine/reconcile.js';
import { createGcpClients, type GcpClients } from '../gcp/clients.js';
import { GcpCaller, type RetryPolicy } from '../gcp/gcp-caller.js';
import { hasChanges, isInSync } from '../plan/types.js';
import { EXIT_CHANGES_PENDING, EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';
import { renderApplyText, renderJson, renderPlanText } from './plan-output.js';

export interface ReconcileCommandOptions {
  filename: string[];
  output?: string;
  gcpEndpoint?: string;
  logLevel?: string;
  /** Tests shorten the retry policy. */
  retry?: Partial<RetryPolicy>;
}

export interface ReconcileRun {
  code: number;
  reports: ReconcileReport[];
  caller: GcpCaller;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** What is wrong with the options, as a message naming the flag and the fix; undefined when they are fine. */
function optionsProblem(options: ReconcileCommandOptions, endpoint: string | undefined): string | undefined {
  if (options.output !== undefined && options.output !== 'json' && options.output !== 'text') {
    return `--output must be text or json, got "${options.output}"`;
  }
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
    return `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${options.logLevel}"`;
  }
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      return `--gcp-endpoint (or JOBMATCH_GCP_ENDPOINT) must be an http(s) base URL such as http://127.0.0.1:4443, got "${endpoint}"`;
    }
  }
  return undefined;
}

/** Runs plan or apply over the -f manifests; returns the exit code, and the reports for callers that want them. */
export async function runReconcile(io: CliIo, mode: 'plan' | 'apply', options: ReconcileCommandOptions, color = false): Promise<ReconcileRun> {
  const caller = new GcpCaller({ retry: options.retry ?? {} });
  const endpoint = options.gcpEndpoint ?? io.env.JOBMATCH_GCP_ENDPOINT;
  const problem = optionsProblem(options, endpoint);
  if (problem) {
    io.stderr(`error: ${problem}\n`);
    return { code: EXIT_ERROR, reports: [], caller };
  }
  const environments = await loadOrReport(io, options.filename);
  if (!environments) return { code: EXIT_ERROR, reports: [], caller };
  const clients = new Map<string, GcpClients>();
  const clientsFor = (project: string) => {
    let c = clients.get(project);
    if (!c) clients.set(project, (c = createGcpClients({ projectId: project, ...(endpoint ? { endpoint } : {}) })));
    return c;
  };
  const policyWriter = new PolicyWriter();
  const logger = createActionLogger({ write: (line: string) => io.stderr(line) } as NodeJS.WritableStream, options.logLevel ?? 'info');
  let crashed = false;
  const settled = await Promise.all(environments.map((env) =>
    reconcileEnvironment(env, mode, { caller, clientsFor, logger, execute: { policyWriter } }).catch((e: unknown) => {
      // One environment failing unexpectedly must not hide the others' reports.
      crashed = true;
      io.stderr(`error: environment ${env.spec.environment} (${env.source.file}): ${(e as Error).message}\n`);
      return undefined;
    })));
  const reports = settled.filter((r): r is ReconcileReport => r !== undefined);
  if (options.output === 'json') io.stdout(renderJson(reports));
  else io.stdout(reports.map((r) => (mode === 'plan' ? renderPlanText(r, color) : renderApplyText(r, color))).join('\n'));

  const failed = crashed || reports.some((r) => r.plan.summary.error > 0 || Object.values(r.results ?? {}).some((x) => x.outcome === 'error'));
  if (mode === 'plan') return { code: failed ? EXIT_ERROR : reports.some((r) => hasChanges(r.plan)) ? EXIT_CHANGES_PENDING : EXIT_OK, reports, caller };
  const unconverged = reports.some((r) => r.plan.summary.conflict > 0 || (r.after !== undefined && !isInSync(r.after)));
  return { code: failed || unconverged ? EXIT_ERROR : EXIT_OK, reports, caller };
}
