/**
 * The jobmatch-operator command line: argument parsing and exit codes only; the work lives in the commands,
 * loaded when run, so `validate` does not pay for the Google clients.
 */
import { Command, CommanderError } from 'commander';
import { EXIT_ERROR, processIo, type CliIo } from './io.js';
import { nodeVersionProblem } from './node-version.js';
import { renderEnvCommand } from './render-env-command.js';
import type { DiffEnvCommandOptions } from './diff-env-command.js';
import type { DriftEventsSetupCommandOptions } from './drift-events-command.js';
import type { ImportCommandOptions } from './import-command.js';
import type { ReconcileCommandOptions } from './reconcile-command.js';
import type { RunCommandOptions } from './run-command.js';
import type { SandboxCommandOptions } from './sandbox-command.js';
import { validateCommand } from './validate-command.js';
import { VERSION_LINE } from './version.js';

const FILES_HELP = 'manifest file, directory of manifests, or - for stdin (repeatable; a file may hold several YAML documents)';
const STRICT_HELP = 'refuse documents of other kinds (exit 1); without it each one (a kustomization.yaml, a ConfigMap …) is skipped with a note on stderr';
const POLICY_HELP = "the operator's configuration file (kind OperatorConfig): its iamPolicy decides which IAM a manifest may ask for; default: the safe built-in policy";

const isTty = () => process.stdout.isTTY === true && !process.env.NO_COLOR;

/** Resolves on SIGINT or SIGTERM, for the long-running commands. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('jobmatch-operator')
    .description('Keeps each JobMatch environment (GCS, BigQuery, Secret Manager, IAM, VM, app config) exactly as declared.')
    .version(VERSION_LINE, '-V, --version', 'print the version and the git commit it was built from')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command('validate')
    .description('Check manifests against the CRD schema and the semantic rules; exit 0 valid, 1 invalid.')
    .requiredOption('-f, --filename <files...>', FILES_HELP)
    .option('--policy <file>', POLICY_HELP)
    .option('--strict', STRICT_HELP)
    .action(async (opts: { filename: string[]; policy?: string; strict?: boolean }) => setExit(await validateCommand(io, opts.filename, opts.policy, opts.strict === true)));

  program
    .command('render-env')
    .description("Print the environment's .env (no secret in it), or with --example a commented .env.example.")
    .requiredOption('-f, --filename <files...>', FILES_HELP)
    .option('--example', 'render a commented .env.example naming every secret and how to add it')
    .option('-e, --environment <name>', 'which environment to render when the manifests hold several')
    .action(async (opts: { filename: string[]; example?: boolean; environment?: string }) =>
      setExit(await renderEnvCommand(io, opts.filename, opts)));

  const endpointHelp = 'send every GCP call to this base URL without credentials (the sandbox); default: JOBMATCH_GCP_ENDPOINT, else the real APIs with Application Default Credentials';
  const reconcileCommands = [
    ['plan', 'Read-only dry-run reconcile against GCP; exit 0 nothing to do, 2 changes pending, 1 error or conflict.'],
    ['apply', 'One reconcile: print the plan, execute exactly it, observe again, report; exit 0 ok and converged, 1 otherwise.'],
  ] as const;
  for (const [mode, description] of reconcileCommands) {
    const command = program
      .command(mode)
      .description(description);
    if (mode === 'apply') {
      command.option('-f, --filename <files...>', FILES_HELP)
        .option('--plan <file>', 'execute exactly this saved plan (the output of plan -o json) instead of -f; refuses what moved since it was made')
        .option('--redeploy', 'roll the app config out to the VM again even when the agent already applied it (docker compose pull and up)');
    } else {
      command.option('-f, --filename <files...>', FILES_HELP)
        .option('--cluster', 'plan the JobMatchEnvironments of a cluster (with their status.inventory): exactly what the controller would do')
        .option('--kubeconfig <file>', 'with --cluster: kubeconfig to use')
        .option('--context <name>', 'with --cluster: kubeconfig context')
        .option('-n, --namespace <ns>', 'with --cluster: one namespace (default: all)')
        .argument('[name]', 'with --cluster: one JobMatchEnvironment');
    }
    command
      .option('-o, --output <format>', mode === 'plan' ? 'text, json, or markdown (a pull-request comment, marked for a workflow to update)' : 'text or json', 'text')
      .option('--strict', `with -f: ${STRICT_HELP}`)
      .option('--policy <file>', POLICY_HELP)
      .option('--gcp-endpoint <url>', endpointHelp)
      .option('--log-level <level>', 'JSON action log level (debug, info, warn, error, silent); default: warn on a terminal, info into --log-file, else (a pipe) warnings, errors and each write apply makes')
      .option('--log-file <file>', 'append the JSON action log to this file instead of stderr')
      .option('--timeout <seconds>', "the run's deadline: calls still in flight are abandoned and reported, exit 1", '300')
      .action(async (...args: unknown[]) => {
        // commander passes the positional [name] first when the command declares one.
        const opts = args.find((a): a is ReconcileCommandOptions => typeof a === 'object' && a !== null && !Array.isArray(a) && !('commands' in a)) ?? {} as ReconcileCommandOptions;
        const name = typeof args[0] === 'string' ? args[0] : undefined;
        if (name) opts.name = name;
        const { runReconcile } = await import('./reconcile-command.js');
        const terminal = { color: isTty(), stderrTty: process.stderr.isTTY === true, ...(process.stdout.columns ? { columns: process.stdout.columns } : {}) };
        setExit((await runReconcile(io, mode, opts, terminal)).code);
      });
  }

  program
    .command('diff-env')
    .description("Dev/prod parity: compare two environments' shape (names normalised by the naming convention); exit 0 same shape apart from spec.parity.expectedDifferences, 2 they differ, 1 error.")
    .argument('<a>', 'an environment (spec.environment), e.g. staging')
    .argument('<b>', 'the environment to compare it with, e.g. prod')
    .requiredOption('-f, --filename <files...>', `manifests declaring both; ${FILES_HELP}`)
    .option('--observed', 'compare what GCP holds for each (read-only, as plan observes) instead of the manifests')
    .option('-o, --output <format>', 'text, json, or markdown (a pull-request comment)', 'text')
    .option('--gcp-endpoint <url>', `with --observed: ${endpointHelp}`)
    .option('--timeout <seconds>', "with --observed: the run's deadline", '120')
    .action(async (a: string, b: string, opts: DiffEnvCommandOptions) => setExit(await (await import('./diff-env-command.js')).diffEnvCommand(io, a, b, opts)));

  program
    .command('import')
    .description('Print a draft JobMatchEnvironment from what GCP holds for an environment (buckets, datasets, secrets by label or naming convention, their IAM, the VM\'s app config); read-only, never reads a secret value; exit 0 printed, 1 error.')
    .requiredOption('--project <id>', 'the GCP project that holds the environment')
    .requiredOption('--environment <name>', 'the environment: its label value and the <env> of the naming convention (jobmatch-<env>-*, <env>_*)')
    .option('--namespace <ns>', "the draft's metadata.namespace", 'jobmatch')
    .option('--location <location>', "the draft's spec.gcp.location (default: where most of the buckets and datasets found are)")
    .option('--zone <zone>', 'read the VM in this zone: its app config from the metadata the operator wrote')
    .option('--vm <name>', 'with --zone: the VM (default: jobmatch-<environment>-vm)')
    .option('--bucket <names...>', 'buckets to take whatever their names (the seed\'s prod names carry no environment)')
    .option('--dataset <ids...>', 'datasets to take whatever their ids')
    .option('--policy <file>', `${POLICY_HELP}; IAM it refuses is left out of the draft, with a comment`)
    .option('--gcp-endpoint <url>', endpointHelp)
    .option('--timeout <seconds>', "the run's deadline", '120')
    .action(async (opts: ImportCommandOptions) => setExit(await (await import('./import-command.js')).importCommand(io, opts)));

  program
    .command('run')
    .description('The long-running reconciler: watches JobMatchEnvironments in a cluster (or a directory with --manifests) and keeps GCP as declared.')
    .option('--manifests <dir>', 'watch this directory of manifests instead of a cluster')
    .option('--config <file>', 'the operator\'s configuration (kind OperatorConfig): its IAM policy and tenants (namespace → projects, environment names, service account); default: the safe built-in policy, no tenants')
    .option('--state <file>', 'with --manifests: keep statuses and inventories in this file across restarts')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: in-cluster config, else KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('-n, --namespace <ns>', 'watch one namespace (default: all)')
    .option('--concurrency <n>', 'environments reconciled at once', '4')
    .option('--gcp-endpoint <url>', endpointHelp)
    .option('--gcp-qps <n>', 'at most N GCP requests a second per API, across all environments')
    .option('--resync-seconds <s>', "override every environment's spec.policy.resyncSeconds")
    .option('--drift-events <subscription>', 'projects/P/subscriptions/S: reconcile within seconds on Cloud Audit Logs entries (see drift-events setup); resync becomes 6 h')
    .option('--drift-events-principal <emails...>', "principals whose writes are the operator's own (its service account)")
    .option('--pubsub-emulator <host:port>', 'a Pub/Sub emulator for --drift-events (default: PUBSUB_EMULATOR_HOST)')
    .option('--listen <host:port>', '/healthz, /readyz, /metrics (and /status with --manifests)', '0.0.0.0:8080')
    .option('--no-leader-election', 'do not elect a leader (a single replica)')
    .option('--leader-election-namespace <ns>', "the Leases' namespace (default: the pod's namespace in a cluster)")
    .option('--shards <n>', 'share the environments between replicas: N shards (1..1024), each owned through its own Lease jobmatch-operator-shard-<i>; 1: one leader', '1')
    .option('--lease-duration <s>', 'how long a Lease (leader or shard) lasts without renewal: the failover time after a replica dies', '15')
    .option('--lease-renew-deadline <s>', 'how long a holder may fail to renew before it stops (exit 1); shorter than --lease-duration', '10')
    .option('--lease-retry-period <s>', 'how often Leases are renewed and tried', '2')
    .option('--log-level <level>', 'JSON action log level on stdout', 'info')
    .option('--log-format <format>', 'json (one line per entry, with Cloud Logging\'s severity) or text (for a person at a terminal)', 'json')
    .action(async (opts: RunCommandOptions) => setExit(await (await import('./run-command.js')).runCommand(io, opts, stopSignal())));

  program
    .command('demo')
    .description('The main job on a laptop (npm start): the controller watches a copy of manifests/examples against an in-process GCP sandbox, rolls the app config out to stand-in VMs running the real VM agent, and heals drift made behind its back; Ctrl-C stops it.')
    .option('--once', 'stop once the scripted drift is healed (tests, CI)')
    .option('--resync-seconds <s>', 'resync period of the demo', '4')
    .action(async (opts: { once?: boolean; resyncSeconds: string }) => setExit(await (await import('./demo-command.js')).demoCommand(io, {
      color: isTty(), ...(opts.once ? { once: true } : {}), resyncSeconds: Number(opts.resyncSeconds), stop: stopSignal(),
    })));

  program
    .command('sandbox')
    .description('Run the local GCP emulator (Storage, BigQuery, Secret Manager, Resource Manager, Compute, metadata server, Logging sinks).')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '4443')
    .option('--state <file>', 'keep the state in this JSON file across restarts')
    .option('--seed <file>', 'YAML of projects and resources to create at start')
    .option('--latency-ms <ms>', 'latency added to every API request', '0')
    .option('--fault-rate <rate>', 'share of API requests answered 429/503 (0..1)', '0')
    .option('--fault-apis <apis>', 'comma-separated APIs the faults apply to (storage,bigquery,secretmanager,resourcemanager,compute,metadata,logging)')
    .option('--pubsub-emulator <host:port>', "publish every write's Admin Activity audit entry to this Pub/Sub emulator, to the topics of the Logging sinks that route it")
    .action(async (opts: SandboxCommandOptions) => setExit(await (await import('./sandbox-command.js')).sandboxCommand(io, opts, stopSignal())));

  const driftEvents = program
    .command('drift-events')
    .description('Drift events: Admin Activity audit entries routed through Pub/Sub to the controller, so drift is healed in seconds.');
  driftEvents
    .command('setup')
    .description('Create (idempotently) the Pub/Sub topic, pull subscription with a dead-letter topic, and Log Router sink that carry drift events, and grant the sink the right to publish.')
    .option('--project <id>', 'the GCP project (default: the one project the -f manifests name)')
    .option('--topic <name>', 'the topic the sink publishes to', 'jobmatch-drift-events')
    .option('--subscription <name>', "the controller's pull subscription", 'jobmatch-operator')
    .option('--sink <name>', 'the Log Router sink', 'jobmatch-drift-events')
    .option('-f, --filename <files...>', `manifests whose bucket and VM names the filter also selects (names starting with jobmatch- always are); ${FILES_HELP}`)
    .option('--dry-run', 'print what would be done and the equivalent gcloud commands; write nothing')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--gcp-endpoint <url>', `the sink's Logging API: ${endpointHelp}`)
    .option('--pubsub-emulator <host:port>', 'a Pub/Sub emulator instead of Pub/Sub (default: PUBSUB_EMULATOR_HOST); goes with --gcp-endpoint')
    .option('--timeout <seconds>', 'deadline of each call', '30')
    .action(async (opts: DriftEventsSetupCommandOptions) => setExit(await (await import('./drift-events-command.js')).driftEventsSetupCommand(io, opts)));

  for (const sub of [...program.commands, ...driftEvents.commands]) sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/** Runs one command line (argv without node and script) and returns its exit code. */
export async function runCli(args: string[], io: CliIo = processIo(), nodeVersion: string = process.version): Promise<number> {
  // Before any command: below package.json's engines some load and some die in a dependency with a message nobody can act on.
  const nodeProblem = nodeVersionProblem(nodeVersion, undefined, process.execPath);
  if (nodeProblem) {
    io.stderr(`error: ${nodeProblem}\n`);
    return EXIT_ERROR;
  }
  let exitCode = 0;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_ERROR;
    io.stderr(`error: ${(e as Error).message}\n`);
    return EXIT_ERROR;
  }
  return exitCode;
}
