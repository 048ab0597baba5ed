/** `plan` and `apply`: load manifests, reconcile every environment through the one engine, print, exit per the API contract. */
import { createWriteStream } from 'node:fs';
import { createActionLogger, defaultActionLogLevel } from '../engine/action-log.js';
import { PolicyWriter } from '../engine/policy-writer.js';
import { reconcileEnvironment, type ReconcileReport } from '../engine/reconcile.js';
import { GcpClientPool } from '../gcp/client-pool.js';
import { GcpCaller, type RetryPolicy } from '../gcp/gcp-caller.js';
import { redeployToken } from '../api/naming.js';
import type { LoadedEnvironment } from '../api/manifests.js';
import { KINDS } from '../kinds/registry.js';
import { contestedBindings } from '../plan/contested-bindings.js';
import { hasChanges, isInSync } from '../plan/types.js';
import { missingCredentials, preflightCredentials } from './credentials.js';
import { endpointProblem, timeoutProblem } from './option-checks.js';
import { EXIT_CHANGES_PENDING, EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';
import { renderApplyText, renderJson, renderPlanText, renderRunError } from './plan-output.js';
import { renderPlanMarkdown, renderPlanMarkdownError } from './plan-markdown.js';
import { readSavedPlan } from './saved-plan.js';
import { readOperatorConfig } from './operator-config-file.js';
import { DEFAULT_OPERATOR_CONFIG } from '../api/operator-config.js';

export interface ReconcileCommandOptions {
  filename?: string[];
  output?: string;
  gcpEndpoint?: string;
  logLevel?: string;
  logFile?: string;
  /** The run's deadline, in seconds. */
  timeout?: string;
  /** Tests shorten the retry policy. */
  retry?: Partial<RetryPolicy>;
  /** An OperatorConfig file: its iamPolicy decides which IAM the manifests may ask for (and, with --cluster, its tenants). */
  policy?: string;
  /** apply only: a saved plan (the output of plan -o json) to execute exactly, instead of -f manifests. */
  plan?: string;
  /** apply only: force one more rollout of the same config to every VM. */
  redeploy?: boolean;
  /** plan only: the JobMatchEnvironments of a cluster (with their inventories) instead of -f manifests. */
  cluster?: boolean;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** With --cluster: only this object. */
  name?: string;
  /** -f: a document of another kind is an error (exit 1); without it, such documents are skipped with a note on stderr. */
  strict?: boolean;
  /** Tests give the credential check a stand-in; the CLI asks Google's auth library. */
  credentials?: () => Promise<void>;
}

export interface ReconcileRun {
  code: number;
  reports: ReconcileReport[];
  caller: GcpCaller;
}

export interface Terminal {
  /** stdout is a terminal: colour and wrapping. */
  color: boolean;
  /** stderr is a terminal: the JSON action log defaults to warnings only (piped: warnings and the writes). */
  stderrTty: boolean;
  columns?: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export const DEFAULT_TIMEOUT_SECONDS = 300;

/** What is wrong with the options, as a message naming the flag and the fix; undefined when they are fine. */
function optionsProblem(mode: 'plan' | 'apply', options: ReconcileCommandOptions, endpoint: string | undefined): string | undefined {
  if (options.output !== undefined && !['text', 'json', 'markdown'].includes(options.output)) {
    return `--output must be text${mode === 'plan' ? ', json or markdown' : ' or json'}, got "${options.output}"`;
  }
  if (options.output === 'markdown' && mode !== 'plan') return '--output markdown is a plan format (a pull-request comment): use text or json with apply';
  if (options.logLevel !== undefined && !LOG_LEVELS.includes(options.logLevel)) {
    return `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${options.logLevel}"`;
  }
  return timeoutProblem(options.timeout) ?? endpointProblem(endpoint);
}

function exitCode(mode: 'plan' | 'apply', reports: ReconcileReport[], crashed: boolean): number {
  const conflicted = reports.some((r) => r.plan.summary.conflict > 0 || r.plan.summary.error > 0);
  if (mode === 'plan') return crashed || conflicted ? EXIT_ERROR : reports.some((r) => hasChanges(r.plan)) ? EXIT_CHANGES_PENDING : EXIT_OK;
  const failed = reports.some((r) => r.cancelled || Object.values(r.results ?? {}).some((x) => x.outcome !== 'ok' && x.outcome !== 'skipped'));
  const unconverged = reports.some((r) => !r.plan.reportOnly && !isInSync(r.after ?? r.plan));
  return crashed || conflicted || failed || unconverged ? EXIT_ERROR : EXIT_OK;
}

/** Runs plan or apply over the -f manifests; returns the exit code, and the reports for callers that want them. */
export async function runReconcile(io: CliIo, mode: 'plan' | 'apply', options: ReconcileCommandOptions, terminal: Terminal = { color: false, stderrTty: false }): Promise<ReconcileRun> {
  const caller = new GcpCaller({ retry: options.retry ?? {} });
  const endpoint = options.gcpEndpoint ?? io.env.JOBMATCH_GCP_ENDPOINT;
  const json = options.output === 'json';
  const markdown = options.output === 'markdown' && mode === 'plan';
  const fail = (message: string): ReconcileRun => {
    if (json) io.stdout(renderRunError(message));
    if (markdown) io.stdout(renderPlanMarkdownError(message));
    io.stderr(`error: ${message}\n`);
    return { code: EXIT_ERROR, reports: [], caller };
  };
  const problem = optionsProblem(mode, options, endpoint);
  if (problem) return fail(problem);
  if (options.plan !== undefined && mode !== 'apply') return fail('--plan is an apply option: plan -o json writes a saved plan, apply --plan executes it');
  if (options.plan !== undefined && (options.filename ?? []).length > 0) return fail('pass either -f manifests or --plan FILE, not both: a saved plan holds its manifests');
  if (options.redeploy && options.plan !== undefined) return fail('--redeploy goes with -f: a saved plan applies exactly what was reviewed');
  if (options.name !== undefined && !options.cluster) return fail(`unexpected argument "${options.name}": a NAME goes with plan --cluster`);
  if (options.cluster && (mode !== 'plan' || (options.filename ?? []).length > 0)) return fail('--cluster is a plan option, instead of -f: plan --cluster [-n NS] [NAME]');
  if (!options.cluster && options.plan === undefined && (options.filename ?? []).length === 0) return fail('pass -f FILE (manifests), or plan --cluster, or apply --plan FILE (a saved plan)');
  const config = options.policy !== undefined ? await readOperatorConfig(options.policy, '--policy') : DEFAULT_OPERATOR_CONFIG;
  if ('error' in config) return fail(config.error);
  const load = { iamPolicy: config.iamPolicy };
  const saved = options.plan !== undefined ? await readSavedPlan(options.plan, load) : undefined;
  if (typeof saved === 'string') return fail(saved);
  let environments: LoadedEnvironment[] | undefined;
  // Objects of the cluster the controller would not reconcile (invalid, refused by the policy or tenancy): exit 1.
  let refusedInCluster = false;
  if (options.cluster) {
    const fromCluster = await (await import('./cluster-environments.js')).environmentsFromCluster(options, config).catch((e: unknown) => (e as Error));
    if (fromCluster instanceof Error) return fail(`cannot read JobMatchEnvironments from the cluster: ${fromCluster.message}`);
    for (const e of fromCluster.errors) io.stderr(`error: ${e}\n`);
    refusedInCluster = fromCluster.errors.length > 0;
    environments = fromCluster.errors.length > 0 && fromCluster.environments.length === 0 ? undefined : fromCluster.environments;
    if (fromCluster.environments.length === 0 && fromCluster.errors.length === 0) return fail('no JobMatchEnvironment found in the cluster');
  } else environments = saved ? saved.map((x) => x.env) : await loadOrReport(io, options.filename ?? [], { ...load, otherKinds: options.strict ? 'refuse' : 'skip' });
  if (!environments) {
    if (json) io.stdout(renderRunError('the manifests are invalid: see the errors on stderr'));
    if (markdown) io.stdout(renderPlanMarkdownError('the manifests are invalid: see the errors on stderr (jobmatch-operator validate -f … shows them)'));
    return { code: EXIT_ERROR, reports: [], caller };
  }
  if (options.redeploy) {
    const token = redeployToken(new Date().toISOString());
    environments = environments.map((e) => ({ ...e, spec: { ...e.spec, redeploy: token } }));
  }
  if (!endpoint) {
    try {
      await (options.credentials ?? preflightCredentials)();
    } catch (e) {
      return fail(missingCredentials(e));
    }
  }
  const pool = new GcpClientPool({ timeoutMs: caller.policy.timeoutMs, ...(endpoint ? { endpoint } : {}) });
  const clientsFor = (project: string) => pool.clientsFor(project);
  const logLevel = options.logLevel ?? defaultActionLogLevel({ stderrTty: terminal.stderrTty, logFile: options.logFile !== undefined });
  const destination = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : { write: (line: string) => io.stderr(line) } as NodeJS.WritableStream;
  const logger = createActionLogger(destination, logLevel);
  const timeoutSeconds = Number(options.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  const signal = AbortSignal.timeout(timeoutSeconds * 1000);
  const contested = contestedBindings(environments.map((e) => e.spec), KINDS);
  const policyWriter = new PolicyWriter();
  let crashed = false;
  const settled = await Promise.all(environments.map((env, i) =>
    reconcileEnvironment(env, mode, { caller, clientsFor, logger, signal, contested, iamPolicy: config.iamPolicy, execute: { policyWriter }, ...(saved ? { savedPlan: saved[i]!.plan } : {}) }).catch((e: unknown) => {
      // One environment failing unexpectedly must not hide the others' reports.
      crashed = true;
      io.stderr(`error: environment ${env.spec.environment} (${env.source.file}): ${(e as Error).message}\n`);
      return undefined;
    })));
  if (options.logFile) await new Promise((resolve) => (destination as ReturnType<typeof createWriteStream>).end(resolve));
  const reports = settled.filter((r): r is ReconcileReport => r !== undefined);
  const unreachable = reports.find((r) => r.unreachable);
  if (unreachable) return { ...fail(`cannot reach ${endpoint ?? 'the Google APIs'} (${unreachable.unreachable}): is the sandbox running? Start it with: jobmatch-operator sandbox`), reports };
  const deadline = reports.some((r) => r.cancelled) ? { timeoutSeconds } : undefined;
  if (json) io.stdout(renderJson(reports, deadline));
  else if (markdown) io.stdout(renderPlanMarkdown(reports, deadline ? { deadline } : {}));
  else io.stdout(reports.map((r) => (mode === 'plan' ? renderPlanText(r, terminal) : renderApplyText(r, terminal))).join('\n') + renderRunFooter(deadline));
  return { code: exitCode(mode, reports, crashed || refusedInCluster), reports, caller };
}

function renderRunFooter(deadline: { timeoutSeconds: number } | undefined): string {
  return deadline ? `\nStopped: the run's deadline (--timeout ${deadline.timeoutSeconds}s) passed; what was not done is marked "cancelled".\n` : '';
}
