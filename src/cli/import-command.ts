/** `import`: print a draft JobMatchEnvironment from what GCP holds for one environment. Read-only; exit 0 printed, 1 error. */
import { formatFieldError } from '../api/field-error.js';
import { loadManifests } from '../api/manifests.js';
import { ENVIRONMENT_PATTERN, PROJECT_ID_PATTERN, namespaceProblem } from '../api/naming.js';
import { DEFAULT_OPERATOR_CONFIG } from '../api/operator-config.js';
import { connect } from '../engine/connection.js';
import { GcpClientPool } from '../gcp/client-pool.js';
import { GcpCaller, type RetryPolicy } from '../gcp/gcp-caller.js';
import { draftManifest } from '../import/draft.js';
import { findExisting } from '../import/existing.js';
import { KINDS } from '../kinds/registry.js';
import { missingCredentials, preflightCredentials } from './credentials.js';
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { readOperatorConfig } from './operator-config-file.js';
import { endpointProblem, timeoutProblem } from './option-checks.js';

export interface ImportCommandOptions {
  project: string;
  environment: string;
  namespace?: string;
  location?: string;
  zone?: string;
  vm?: string;
  bucket?: string[];
  dataset?: string[];
  policy?: string;
  gcpEndpoint?: string;
  timeout?: string;
  /** Tests shorten the retry policy. */
  retry?: Partial<RetryPolicy>;
  credentials?: () => Promise<void>;
}

export const DEFAULT_IMPORT_NAMESPACE = 'jobmatch';

export async function importCommand(io: CliIo, options: ImportCommandOptions): Promise<number> {
  const fail = (message: string) => {
    io.stderr(`error: ${message}\n`);
    return EXIT_ERROR;
  };
  const endpoint = options.gcpEndpoint ?? io.env.JOBMATCH_GCP_ENDPOINT;
  if (!new RegExp(PROJECT_ID_PATTERN).test(options.project)) return fail(`--project must be a GCP project id, got "${options.project}"`);
  if (!new RegExp(ENVIRONMENT_PATTERN).test(options.environment)) return fail(`--environment must match ${ENVIRONMENT_PATTERN}, got "${options.environment}"`);
  const namespace = options.namespace ?? DEFAULT_IMPORT_NAMESPACE;
  const nsProblem = namespaceProblem(namespace);
  if (nsProblem) return fail(`--namespace ${nsProblem}`);
  if (options.vm !== undefined && options.zone === undefined) return fail('--vm goes with --zone: the VM is looked for in that zone');
  const problem = timeoutProblem(options.timeout) ?? endpointProblem(endpoint);
  if (problem) return fail(problem);
  const config = options.policy !== undefined ? await readOperatorConfig(options.policy, '--policy') : DEFAULT_OPERATOR_CONFIG;
  if ('error' in config) return fail(config.error);
  if (!endpoint) {
    try {
      await (options.credentials ?? preflightCredentials)();
    } catch (e) {
      return fail(missingCredentials(e));
    }
  }
  const caller = new GcpCaller({ retry: options.retry ?? {} });
  const pool = new GcpClientPool({ timeoutMs: caller.policy.timeoutMs, ...(endpoint ? { endpoint } : {}) });
  const signal = AbortSignal.timeout(Number(options.timeout ?? 120) * 1000);
  const conn = connect(KINDS, pool.clientsFor(options.project), options.project, caller, { signal, iamPolicy: config.iamPolicy });
  const existing = await findExisting(conn, {
    project: options.project, environment: options.environment,
    buckets: options.bucket ?? [], datasets: options.dataset ?? [],
    ...(options.zone !== undefined ? { vm: { name: options.vm ?? `jobmatch-${options.environment}-vm`, zone: options.zone } } : {}),
  });
  const lists = ['Bucket list', 'Dataset list', 'Secret list'];
  const failedLists = existing.errors.filter((e) => lists.some((l) => e.startsWith(`${l}:`)));
  if (failedLists.length > 0) return fail(`cannot list what project ${options.project} holds: ${failedLists.join('; ')}`);
  const draft = draftManifest(existing, { namespace, iamPolicy: config.iamPolicy, ...(options.location ? { location: options.location } : {}) });
  if (draft.problem) return fail(draft.problem);
  io.stdout(draft.yaml);
  // The draft is checked as validate would check it: what GCP holds may break a rule (a label, a name), said here, not at plan time.
  for (const e of loadManifests([{ file: 'draft', text: draft.yaml }], { iamPolicy: config.iamPolicy }).errors) io.stderr(`warning: the draft does not validate yet: ${formatFieldError(e)}\n`);
  const found = existing.buckets.length + existing.datasets.length + existing.secrets.length;
  io.stderr(`note: draft of environment ${options.environment}: ${existing.buckets.length} bucket(s), ${existing.datasets.length} dataset(s), ${existing.secrets.length} secret(s)${draft.manifest.spec.vm ? ', the VM and its app config' : ''}; review it, then plan -f it${found === 0 ? ' (nothing was found: check --project and --environment)' : ''}\n`);
  return EXIT_OK;
}
