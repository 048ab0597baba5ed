/**
 * `diff-env A B -f DIR [--observed]`: dev/prod parity. Environments are found by spec.environment (the name the
 * naming convention and spec.parity.reference use, not metadata.name). The comparison is plan/parity.ts; with
 * --observed each side is first planned read-only against GCP (the engine's plan path) and rebuilt from what it
 * holds (plan/parity-observed.ts). Exit 0 same shape (but expected differences), 2 differ, 1 error.
 */
import type { LoadedEnvironment } from '../api/manifests.js';
import type { ResolvedSpec } from '../api/defaults.js';
import { compareEnvironments, type ParityDifference, type ParityReport, type ParityValue } from '../plan/parity.js';
import { DIFF_ENV_JSON_KIND } from './diff-env-json-schema.js';
import { EXIT_CHANGES_PENDING, EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';
import { endpointProblem, timeoutProblem } from './option-checks.js';

export interface DiffEnvCommandOptions {
  filename?: string[];
  observed?: boolean;
  output?: string;
  gcpEndpoint?: string;
  timeout?: string;
  /** Tests give the credential check a stand-in; the CLI asks Google's auth library. */
  credentials?: () => Promise<void>;
}

export const DIFF_ENV_OUTPUTS = ['text', 'json', 'markdown'] as const;
const DEFAULT_TIMEOUT_SECONDS = 120;

type Source = 'manifests' | 'observed';

const show = (v: ParityValue): string => (v === null ? '(none)' : typeof v === 'string' ? JSON.stringify(v) : String(v));

/** The report as text: differences grouped, each with both values; expected ones marked with their reason. */
export function renderParityText(report: ParityReport, source: Source): string {
  const lines = [`Parity of ${report.a} and ${report.b} (${source === 'observed' ? 'what GCP holds for each' : 'their manifests'}), names normalised:`];
  let group = '';
  for (const d of report.differences) {
    if (d.group !== group) {
      group = d.group;
      lines.push('', `  ${group}`);
    }
    lines.push(`    ${d.expected ? '=' : '≠'} ${d.path}: ${report.a} ${show(d.a)}, ${report.b} ${show(d.b)}${d.expected ? ` (expected, ${d.expected.declaredBy}: ${d.expected.reason})` : ''}`);
  }
  const { unexpected, expected } = report.summary;
  lines.push('', unexpected === 0
    ? `Same shape${expected > 0 ? `, apart from ${expected} expected difference${expected === 1 ? '' : 's'}` : ''}.`
    : `${unexpected} difference${unexpected === 1 ? '' : 's'}${expected > 0 ? ` (and ${expected} expected)` : ''}: ${report.a} and ${report.b} do not have the same shape.`);
  return `${lines.join('\n')}\n`;
}

/** The report as JSON (DIFF_ENV_JSON_SCHEMA). */
export function renderParityJson(report: ParityReport, source: Source): string {
  const differences = report.differences.map((d: ParityDifference) => ({
    group: d.group, path: d.path, a: d.a, b: d.b, ...(d.expected ? { expected: d.expected } : {}),
  }));
  return `${JSON.stringify({
    apiVersion: 'jobmatch.io/v1alpha1', kind: DIFF_ENV_JSON_KIND, same: report.summary.unexpected === 0,
    a: report.a, b: report.b, source, summary: report.summary, differences,
  }, null, 2)}\n`;
}

function renderError(message: string): string {
  return `${JSON.stringify({ apiVersion: 'jobmatch.io/v1alpha1', kind: DIFF_ENV_JSON_KIND, same: false, error: { message } }, null, 2)}\n`;
}

/** The one environment named `name` (spec.environment), or why not. */
function pick(environments: LoadedEnvironment[], name: string): LoadedEnvironment | string {
  const found = environments.filter((e) => e.spec.environment === name);
  const known = [...new Set(environments.map((e) => e.spec.environment))].sort().join(', ');
  if (found.length === 0) return `no environment "${name}" in the manifests (spec.environment); found: ${known}`;
  if (found.length > 1) {
    return `environment "${name}" is declared ${found.length} times (${found.map((e) => `${e.namespace}/${e.manifest.metadata.name} in ${e.source.file}`).join(', ')}): pass -f with only one of them`;
  }
  return found[0]!;
}

/** Both specs as GCP holds them: each planned read-only through the engine, as `plan` does. */
async function observedSpecs(io: CliIo, envs: LoadedEnvironment[], options: DiffEnvCommandOptions, endpoint: string | undefined): Promise<ResolvedSpec[] | string> {
  const [{ reconcileEnvironment }, { GcpClientPool }, { GcpCaller }, { createActionLogger }, { KINDS }, { contestedBindings }, { observedSpec }, credentials] = await Promise.all([
    import('../engine/reconcile.js'), import('../gcp/client-pool.js'), import('../gcp/gcp-caller.js'), import('../engine/action-log.js'),
    import('../kinds/registry.js'), import('../plan/contested-bindings.js'), import('../plan/parity-observed.js'), import('./credentials.js'),
  ]);
  if (!endpoint) {
    try {
      await (options.credentials ?? credentials.preflightCredentials)();
    } catch (e) {
      return credentials.missingCredentials(e);
    }
  }
  const caller = new GcpCaller({ retry: {} });
  const pool = new GcpClientPool({ timeoutMs: caller.policy.timeoutMs, ...(endpoint ? { endpoint } : {}) });
  const logger = createActionLogger({ write: (line: string) => io.stderr(line) } as NodeJS.WritableStream, 'error');
  const signal = AbortSignal.timeout(Number(options.timeout ?? DEFAULT_TIMEOUT_SECONDS) * 1000);
  const contested = contestedBindings(envs.map((e) => e.spec), KINDS);
  const specs: ResolvedSpec[] = [];
  for (const env of envs) {
    // Suspended or Report-only, the plan is still made from a fresh read: parity wants what GCP holds.
    const readable = { ...env, spec: { ...env.spec, policy: { ...env.spec.policy, suspend: false } } };
    const report = await reconcileEnvironment(readable, 'plan', { caller, clientsFor: (project) => pool.clientsFor(project), logger, signal, contested });
    if (report.unreachable) return `cannot reach ${endpoint ?? 'the Google APIs'} (${report.unreachable}): is the sandbox running? Start it with: jobmatch-operator sandbox`;
    if (report.cancelled) return `the deadline (--timeout ${options.timeout ?? DEFAULT_TIMEOUT_SECONDS}s) passed while observing ${env.spec.environment}`;
    const errors = Object.entries(report.observeErrors);
    if (errors.length > 0) {
      return `cannot read all of ${env.spec.environment} from GCP, so its shape is unknown: ${errors.slice(0, 3).map(([id, why]) => `${id}: ${why}`).join('; ')}${errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''}`;
    }
    specs.push(observedSpec(env.spec, report.plan));
  }
  return specs;
}

/** Runs diff-env; returns the exit code. */
export async function diffEnvCommand(io: CliIo, a: string, b: string, options: DiffEnvCommandOptions): Promise<number> {
  const output = options.output ?? 'text';
  const json = output === 'json';
  const fail = (message: string): number => {
    if (json) io.stdout(renderError(message));
    io.stderr(`error: ${message}\n`);
    return EXIT_ERROR;
  };
  if (!(DIFF_ENV_OUTPUTS as readonly string[]).includes(output)) return fail(`--output must be text, json or markdown, got "${output}"`);
  if (a === b) return fail(`diff-env compares two different environments; got "${a}" twice`);
  const endpoint = options.gcpEndpoint ?? io.env.JOBMATCH_GCP_ENDPOINT;
  const problem = timeoutProblem(options.timeout) ?? (options.observed ? endpointProblem(endpoint) : undefined);
  if (problem) return fail(problem);
  if ((options.filename ?? []).length === 0) return fail('pass -f FILE or -f DIR: the manifests that declare both environments');
  const environments = await loadOrReport(io, options.filename ?? [], { otherKinds: 'skip' });
  if (!environments) return fail('the manifests are invalid: see the errors above');
  const envA = pick(environments, a);
  if (typeof envA === 'string') return fail(envA);
  const envB = pick(environments, b);
  if (typeof envB === 'string') return fail(envB);
  let specs: ResolvedSpec[] = [envA.spec, envB.spec];
  if (options.observed) {
    const observed = await observedSpecs(io, [envA, envB], options, endpoint);
    if (typeof observed === 'string') return fail(observed);
    // What GCP holds has no expectations of its own: the manifests' spec.parity still decides what is intended.
    specs = observed;
  }
  const source: Source = options.observed ? 'observed' : 'manifests';
  const report = compareEnvironments(specs[0]!, specs[1]!);
  if (output === 'markdown') io.stdout((await import('./diff-env-markdown.js')).renderParityMarkdown(report, source));
  else io.stdout(json ? renderParityJson(report, source) : renderParityText(report, source));
  return report.summary.unexpected === 0 ? EXIT_OK : EXIT_CHANGES_PENDING;
}
