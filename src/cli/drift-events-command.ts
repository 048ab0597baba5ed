/** `drift-events setup`: options, clients, the set-up, and its report as text (with gcloud commands in a dry run) or JSON. */
import type { LoadedEnvironment } from '../api/manifests.js';
import { PROJECT_ID_PATTERN } from '../api/naming.js';
import type { DeclaredNames } from '../drift-events/audit-filter.js';
import { createDriftEventsClients, type DriftEventsClients } from '../drift-events/drift-events-clients.js';
import { DriftEventsSetupError, setupDriftEvents, type DriftEventsSetupReport, type SetupStep } from '../drift-events/drift-events-setup.js';
import { createGcpClients } from '../gcp/clients.js';
import { GcpCaller } from '../gcp/gcp-caller.js';
import { ProjectClient } from '../gcp/project-policy.js';
import { missingCredentials, preflightCredentials } from './credentials.js';
import { emulatorProblem, endpointProblem, timeoutProblem } from './option-checks.js';
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';

export interface DriftEventsSetupCommandOptions {
  project?: string;
  topic?: string;
  subscription?: string;
  sink?: string;
  /** Manifests whose bucket and VM names join the filter. */
  filename?: string[];
  dryRun?: boolean;
  output?: string;
  gcpEndpoint?: string;
  pubsubEmulator?: string;
  /** Per-call deadline, in seconds. */
  timeout?: string;
  /** Tests give the credential check a stand-in; the CLI asks Google's auth library. */
  credentials?: () => Promise<void>;
}

/** Pub/Sub's topic and subscription ids: 3 to 255 characters, starting with a letter, not with "goog". */
const PUBSUB_ID = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const SINK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** What is wrong with the options, naming the flag and the fix; undefined when they are fine. */
function optionsProblem(o: DriftEventsSetupCommandOptions, endpoint: string | undefined, emulator: string | undefined): string | undefined {
  if (o.output !== undefined && o.output !== 'text' && o.output !== 'json') return `--output must be text or json, got "${o.output}"`;
  for (const [flag, value] of [['--topic', o.topic], ['--subscription', o.subscription]] as const) {
    if (value !== undefined && !PUBSUB_ID.test(value)) {
      return `${flag} must be 3 to 255 letters, digits or - _ . ~ + %, starting with a letter and not with "goog", got "${value}"`;
    }
  }
  if (o.topic !== undefined && !PUBSUB_ID.test(`${o.topic}-dead-letter`)) return `--topic is too long to add "-dead-letter" to it, got "${o.topic}"`;
  if (o.sink !== undefined && !SINK_ID.test(o.sink)) return `--sink must be up to 100 letters, digits, "_", "-" or ".", starting with a letter or digit, got "${o.sink}"`;
  const flagProblem = timeoutProblem(o.timeout) ?? endpointProblem(endpoint) ?? emulatorProblem(emulator);
  if (flagProblem) return flagProblem;
  // The Log Router publishes where its sink points: a real sink cannot reach an emulator, nor the sandbox real Pub/Sub.
  if (emulator !== undefined && endpoint === undefined) {
    return `a Pub/Sub emulator (${emulator}) needs the sandbox for the sink: pass --gcp-endpoint http://127.0.0.1:4443 (or JOBMATCH_GCP_ENDPOINT), or unset PUBSUB_EMULATOR_HOST to use the real Pub/Sub`;
  }
  if (endpoint !== undefined && emulator === undefined) {
    return `--gcp-endpoint ${endpoint} needs a Pub/Sub emulator for the topic: pass --pubsub-emulator HOST:PORT (or PUBSUB_EMULATOR_HOST); start one with gcloud beta emulators pubsub start`;
  }
  return undefined;
}

/** The project: --project, else the one project every -f manifest names. */
function chooseProject(o: DriftEventsSetupCommandOptions, environments: LoadedEnvironment[]): string {
  if (o.project !== undefined) {
    if (!new RegExp(PROJECT_ID_PATTERN).test(o.project)) throw new DriftEventsSetupError(`--project must be a project id (6 to 30 lowercase letters, digits and hyphens), got "${o.project}"`);
    return o.project;
  }
  const projects = [...new Set(environments.map((e) => e.spec.gcp.projectId))];
  if (projects.length === 1) return projects[0]!;
  if (projects.length === 0) throw new DriftEventsSetupError('pass --project PROJECT_ID (or -f manifests that name one project)');
  throw new DriftEventsSetupError(`the manifests name several projects (${projects.join(', ')}): pass --project, and run setup once per project`);
}

/** The bucket and VM names the manifests of this project declare. */
function declaredNames(environments: LoadedEnvironment[], project: string): DeclaredNames {
  const mine = environments.filter((e) => e.spec.gcp.projectId === project);
  return {
    buckets: mine.flatMap((e) => (e.spec.buckets ?? []).map((b) => b.name)),
    instances: mine.flatMap((e) => (e.spec.vm ? [e.spec.vm.name] : [])),
  };
}

const VERBS: Record<SetupStep['action'], [done: string, dryRun: string]> = {
  create: ['created', 'would create'],
  update: ['updated', 'would update'],
  grant: ['granted', 'would grant'],
  none: ['in place', 'in place'],
  skip: ['skipped', 'skipped'],
};
const LABELS: Record<SetupStep['kind'], string> = {
  'topic': 'topic', 'dead-letter-topic': 'dead-letter topic', 'subscription': 'subscription', 'sink': 'sink', 'grant': 'grant',
};

/** The report as a person reads it: one line a step, the filter, and in a dry run the gcloud commands. */
export function renderSetupText(report: DriftEventsSetupReport): string {
  const lines = [`drift events, project ${report.project}${report.dryRun ? ' (dry run: nothing is written)' : ''}:`];
  for (const step of report.steps) {
    const verb = VERBS[step.action][report.dryRun ? 1 : 0].padEnd(12);
    lines.push(step.kind === 'grant'
      ? `  ${verb} ${step.role} to ${step.member} on ${step.name} (${step.detail})`
      : `  ${verb} ${LABELS[step.kind]} ${step.name} (${step.detail})`);
  }
  lines.push(`  filter: ${report.filter}`);
  const commands = report.steps.flatMap((s) => s.gcloud);
  if (!report.changed) lines.push('Nothing to do: everything is in place.');
  else if (report.dryRun) lines.push('', 'The same with gcloud:', ...commands.map((c) => `  ${c}`));
  lines.push(`The controller reads ${report.subscription}.`);
  return `${lines.join('\n')}\n`;
}

/** The gist of a client's error: gax piles every retry's error into its message. */
function gist(message: string): string {
  if (/ECONNREFUSED/.test(message)) return 'connection refused';
  const timeout = /Total timeout of API \S+ exceeded (\d+) milliseconds/.exec(message);
  if (timeout) return `no answer within ${timeout[1]} ms`;
  const first = message.split(' : Previous errors')[0]!.trim();
  return first.length > 300 ? `${first.slice(0, 300)}…` : first;
}

/** One line a person can act on, from whatever the clients threw. */
function describeFailure(e: unknown, endpoint: string | undefined, emulator: string | undefined, project: string): string {
  if (e instanceof DriftEventsSetupError) return e.message;
  const err = e as { code?: unknown; message?: string; details?: string };
  // The project's number comes through the shared GCP call wrapper, which says plainly when the endpoint is down.
  if ((e as { unreachable?: boolean }).unreachable) {
    return `cannot reach ${endpoint ?? 'the Google APIs'} (${err.message}): ${endpoint ? 'is the sandbox running? Start it with: jobmatch-operator sandbox' : 'check the network'}`;
  }
  const full = String(err.details || err.message || e).split('\n')[0]!;
  const message = gist(full);
  const code = err.code;
  const pubsubWhere = emulator ? `the Pub/Sub emulator at ${emulator}` : 'Pub/Sub';
  if (code === 14 || code === 4 || /ECONNREFUSED|UNAVAILABLE|Total timeout|No connection established/.test(full)) {
    if (/google\.pubsub|Publisher|Subscriber|IAMPolicy/i.test(full) || (emulator && !/sinks|logging/i.test(full))) {
      return `cannot reach ${pubsubWhere} (${message}): is it running?${emulator ? ` Start it with: gcloud beta emulators pubsub start --host-port=${emulator}` : ''}`;
    }
    return `cannot reach ${endpoint ?? 'the Logging API'} (${message})${endpoint ? ': is the sandbox running? Start it with: jobmatch-operator sandbox' : ''}`;
  }
  if (code === 7 || code === 403) {
    return `permission denied (${message}): setting up drift events needs roles/pubsub.admin and roles/logging.configWriter on project ${project} (see docs/drift-events.md)`;
  }
  if (code === 16 || code === 401) return missingCredentials(e);
  return `drift-events setup failed: ${message}`;
}

/** Runs `drift-events setup`; returns the exit code. */
export async function driftEventsSetupCommand(io: CliIo, options: DriftEventsSetupCommandOptions): Promise<number> {
  const json = options.output === 'json';
  const endpoint = options.gcpEndpoint ?? io.env.JOBMATCH_GCP_ENDPOINT;
  const emulator = options.pubsubEmulator ?? io.env.PUBSUB_EMULATOR_HOST;
  const fail = (message: string) => {
    if (json) io.stdout(`${JSON.stringify({ error: message }, null, 2)}\n`);
    io.stderr(`error: ${message}\n`);
    return EXIT_ERROR;
  };
  const problem = optionsProblem(options, endpoint, emulator);
  if (problem) return fail(problem);
  let environments: LoadedEnvironment[] = [];
  if ((options.filename ?? []).length > 0) {
    const loaded = await loadOrReport(io, options.filename!);
    if (!loaded) {
      if (json) io.stdout(`${JSON.stringify({ error: 'the manifests are invalid: see the errors on stderr' }, null, 2)}\n`);
      return EXIT_ERROR;
    }
    environments = loaded;
  }
  let project: string;
  try {
    project = chooseProject(options, environments);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!endpoint || !emulator) {
    try {
      await (options.credentials ?? preflightCredentials)();
    } catch (e) {
      return fail(missingCredentials(e));
    }
  }
  const timeoutMs = Number(options.timeout ?? 30) * 1000;
  let clients: DriftEventsClients | undefined;
  try {
    clients = await createDriftEventsClients({ projectId: project, ...(endpoint ? { gcpEndpoint: endpoint } : {}), ...(emulator ? { pubsubEmulator: emulator } : {}) });
    const gcp = createGcpClients({ projectId: project, timeoutMs, ...(endpoint ? { endpoint } : {}) });
    const projectClient = new ProjectClient(gcp.projects, project, new GcpCaller({ retry: { timeoutMs } }));
    const report = await setupDriftEvents({ ...clients, projectNumber: () => projectClient.projectNumber() }, {
      project,
      ...(options.topic ? { topic: options.topic } : {}),
      ...(options.subscription ? { subscription: options.subscription } : {}),
      ...(options.sink ? { sink: options.sink } : {}),
      declared: declaredNames(environments, project),
      dryRun: options.dryRun === true,
      callTimeoutMs: timeoutMs,
    });
    io.stdout(json ? `${JSON.stringify(report, null, 2)}\n` : renderSetupText(report));
    return EXIT_OK;
  } catch (e) {
    return fail(describeFailure(e, endpoint, emulator, project));
  } finally {
    await clients?.close().catch(() => undefined);
  }
}

