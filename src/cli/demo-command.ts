/**
 * `demo` (npm start): the operator's main job on a laptop. The controller (`run --manifests`) watches a copy of
 * manifests/examples against an in-process GCP sandbox and creates both environments; each example's VM is an
 * instance in the sandbox, with the real VM agent (vm-agent/jobmatch-agent.sh) running for it under sh against
 * its metadata server, with docker and git stand-ins (vm-agent/demo/). Then, behind the operator's back and
 * through Google's own client libraries, a person adds the external secrets' values (the rollouts start) and
 * someone breaks things one at a time; last, someone edits the app config and the new .env is rolled out. The
 * live view shows each one healed or deployed, with no command typed. Ctrl-C stops it cleanly; --once stops
 * once the script is done (tests, CI). Agents and temp files never outlive it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parseDocument } from 'yaml';
import { configHash } from '../api/env-file.js';
import { loadManifests, type LoadedEnvironment } from '../api/manifests.js';
import { secretId } from '../api/naming.js';
import { Controller } from '../controller/controller.js';
import { DirectoryStore } from '../controller/directory-store.js';
import type { EnvironmentStatus } from '../controller/inventory.js';
import { ControllerMetrics } from '../controller/metrics.js';
import { silentLogger } from '../engine/action-log.js';
import { PolicyWriter } from '../engine/policy-writer.js';
import { createGcpClients } from '../gcp/clients.js';
import { GcpCaller } from '../gcp/gcp-caller.js';
import type { SeedProject } from '../sandbox/seed.js';
import { startSandbox, type Sandbox } from '../sandbox/server.js';
import type { CliIo } from './io.js';
import { EXIT_ERROR, EXIT_OK } from './io.js';

const EXAMPLES = fileURLToPath(new URL('../../manifests/examples/', import.meta.url));
const AGENT_SCRIPT = fileURLToPath(new URL('../../vm-agent/jobmatch-agent.sh', import.meta.url));
/** docker and git stand-ins, and run-agent (stops the agent when the demo ends). */
const STAND_INS = fileURLToPath(new URL('../../vm-agent/demo/', import.meta.url));
const STAGING = 'jobmatch/staging';
const BUCKET = 'jobmatch-staging-bronze-job-match-v0';
/** The scripted config edit: staging's app.config key, and its new value. */
const EDIT = { key: 'LLM_MAX_TOKENS', value: '8192' };

export interface DemoOptions {
  color: boolean;
  /** Stop after the script instead of waiting for Ctrl-C. */
  once?: boolean;
  resyncSeconds?: number;
  stop: Promise<void>;
  /** How long one scene may take before the demo gives up with an error (default: 60 s, or 10 resyncs). */
  sceneTimeoutSeconds?: number;
  /** Called before the demo cleans up (tests look at the VMs' files and processes). */
  beforeCleanup?: (demo: DemoState) => void | Promise<void>;
}

/** One example's VM: a sandbox instance, and the agent running for it. */
export interface DemoVm {
  /** namespace/name of the environment. */
  key: string;
  environment: string;
  project: string;
  zone: string;
  instance: string;
  serviceAccount?: string;
  /** The compose directory (app.compose.directory of the copy): the agent writes .env here. */
  composeDir: string;
  stateDir: string;
  /** The process group of the agent (run-agent, the agent, and what it runs). */
  pgid?: number;
}

export interface DemoState {
  /** The temp directory holding everything below; removed on exit. */
  root: string;
  /** The watched copy of manifests/examples. */
  manifestsDir: string;
  vms: DemoVm[];
}

const MARK = { True: '✓', False: '✗', Unknown: '·' } as const;
const time = () => new Date().toISOString().slice(11, 19);
/** sha256:<64 hex> shortened to its first 12 digits, for the live view. */
const short = (text: string) => text.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256:$1…');

function line(key: string, status: EnvironmentStatus, color: boolean): string {
  const c = (type: string) => status.conditions?.find((x) => x.type === type);
  const ready = c('Ready');
  const drift = c('DriftDetected');
  const deployed = c('Deployed');
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const readyText = ready?.status === 'True' ? paint('32', 'Ready ✓') : paint('33', `Ready ✗ ${ready?.reason ?? ''}`);
  const deployedText = deployed?.status === 'True'
    ? paint('32', `Deployed ✓ ${short(status.deployedConfigHash ?? '')}`)
    : paint('33', `Deployed ${MARK[deployed?.status ?? 'Unknown']} ${deployed?.reason ?? ''}`);
  const counts = new Map<string, number>();
  for (const r of status.resources ?? []) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  const driftText = drift?.status === 'True' ? paint('35', `drift healed: ${drift.message.length > 110 ? `${drift.message.slice(0, 110)}…` : drift.message}`) : 'no drift';
  return `${time()}  ${key.padEnd(17)} ${readyText} · Synced ${MARK[c('Synced')?.status ?? 'Unknown']} · ${deployedText}\n${' '.repeat(28)}${summary} · ${driftText}\n`;
}

/** Whether `tool` is an executable file in one of PATH's directories. */
function onPath(tool: string, path: string): boolean {
  return path.split(delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The examples copied into `dir`, each VM's app.compose.directory and app.healthCheck.url pointed at the demo's
 * stand-ins (comments and everything else kept); then loaded, so a copy the operator would refuse is an error here.
 */
function copyExamples(dir: string, vmRoot: string, healthUrl: (environment: string) => string): LoadedEnvironment[] {
  mkdirSync(dir);
  const sources = [];
  for (const name of readdirSync(EXAMPLES).filter((n) => /\.(ya?ml|json)$/.test(n)).sort()) {
    const docs = parseAllDocuments(readFileSync(join(EXAMPLES, name), 'utf8'));
    if (!Array.isArray(docs)) continue;
    for (const doc of docs) {
      const environment = doc.getIn(['spec', 'environment']);
      if (typeof environment !== 'string' || !doc.hasIn(['spec', 'vm'])) continue;
      doc.setIn(['spec', 'app', 'compose', 'directory'], join(vmRoot, environment, 'app'));
      doc.setIn(['spec', 'app', 'healthCheck', 'url'], healthUrl(environment));
    }
    const text = docs.map((d) => String(d)).join('');
    writeFileSync(join(dir, name), text);
    sources.push({ file: join(dir, name), text });
  }
  const { environments, errors } = loadManifests(sources);
  if (errors.length > 0) throw new Error(`the demo's copy of the examples is refused: ${errors[0]!.message} (${errors[0]!.fix}); if it is the temp directory, set TMPDIR to another one`);
  return environments;
}

/** The VM an example declares, with the service account its IAM names (secret access first). */
function vmOf(env: LoadedEnvironment, vmRoot: string): DemoVm | undefined {
  const { spec } = env;
  if (!spec.vm) return undefined;
  const members = spec.iam.map((b) => b.member).filter((m) => m.startsWith('serviceAccount:'));
  const reader = spec.iam.find((b) => b.member.startsWith('serviceAccount:') && b.role === 'roles/secretmanager.secretAccessor')?.member ?? members[0];
  return {
    key: `${env.namespace}/${env.manifest.metadata.name}`, environment: spec.environment, project: spec.gcp.projectId, zone: spec.vm.zone, instance: spec.vm.name,
    ...(reader ? { serviceAccount: reader.slice('serviceAccount:'.length) } : {}),
    composeDir: join(vmRoot, spec.environment, 'app'), stateDir: join(vmRoot, spec.environment, 'state'),
  };
}

/** Every VM as a sandbox instance, in its project and zone, running as its service account. */
function seedOf(vms: DemoVm[]): { projects: SeedProject[] } {
  const projects = new Map<string, SeedProject>();
  for (const vm of vms) {
    const p = projects.get(vm.project) ?? { projectId: vm.project, instances: [] };
    p.instances!.push({ name: vm.instance, zone: vm.zone, ...(vm.serviceAccount ? { serviceAccount: vm.serviceAccount } : {}) });
    projects.set(vm.project, p);
  }
  return { projects: [...projects.values()] };
}

/** A health endpoint for every VM's app: 200 on any path. */
async function startHealthServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok (the demo answers for the app)\n');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((done) => server.close(() => done()));
    },
  };
}

interface RunningAgent {
  vm: DemoVm;
  child: ChildProcess;
  /** Every process holding its output is gone (the agent, its curl, the stand-ins). */
  closed: Promise<void>;
  stopping: boolean;
}

/**
 * Agent lines left out of the live view (on a real VM they are in its journal): routine ones, and the ones the
 * stand-ins' own lines say again (git fetch, checkout, docker compose pull and up).
 */
const QUIET = /^jobmatch-agent: (started|stopping|rollout of \S+: validating|rollback point|jobmatch-config-hash not set yet|\S+ is applied: nothing to do|git fetch in|git checkout|docker compose (pull|up)|health check \S+ \(up to)/;

/** Starts the real agent for `vm` (through run-agent) and resolves once it has logged that it started. */
async function startAgent(vm: DemoVm, sandbox: Sandbox, binDir: string, path: string, print: (vm: DemoVm, text: string) => void): Promise<RunningAgent> {
  mkdirSync(vm.composeDir, { recursive: true });
  writeFileSync(join(vm.composeDir, 'docker-compose.yml'), '# The app\'s compose file would be here (the demo\'s docker stand-in runs nothing).\nservices: {}\n');
  const child = spawn('sh', [join(binDir, 'run-agent'), AGENT_SCRIPT], {
    cwd: vm.composeDir,
    detached: true, // its own process group: stopped as a whole, and untouched by the terminal's Ctrl-C
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: `${binDir}${delimiter}${path}`,
      HOME: join(vm.composeDir, '..'),
      JOBMATCH_METADATA_URL: `${sandbox.metadataUrl(vm.project, vm.zone, vm.instance)}/computeMetadata/v1`,
      // The agent reads its deploy key itself, with the VM's token, from the sandbox's Secret Manager.
      JOBMATCH_ENVIRONMENT: vm.environment,
      JOBMATCH_SECRET_MANAGER_URL: sandbox.url,
      JOBMATCH_COMPOSE_DIRECTORIES: vm.composeDir,
      JOBMATCH_STATE_DIR: vm.stateDir,
      JOBMATCH_HEALTH_INTERVAL: '0.5',
      JOBMATCH_BACKOFF_MAX: '2',
      JOBMATCH_POLL_TIMEOUT: '60',
    },
  });
  vm.pgid = child.pid;
  const agent: RunningAgent = { vm, child, closed: new Promise((done) => child.once('close', () => done())), stopping: false };
  let started: () => void = () => undefined;
  const isUp = new Promise<void>((done) => (started = done));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (text) => {
      if (text.startsWith('jobmatch-agent: started')) started();
      if (!agent.stopping && !QUIET.test(text)) print(vm, text);
    });
  }
  child.once('error', () => undefined); // reported by the exit below
  const exited = new Promise<string>((done) => child.once('exit', (code, signal) => done(`the VM agent of ${vm.instance} exited (${signal ?? `code ${code}`})`)));
  void exited.then((why) => !agent.stopping && print(vm, why));
  const timeout = new Promise<string>((done) => setTimeout(() => done(`the VM agent of ${vm.instance} did not start within 10 s`), 10_000).unref());
  const failed = await Promise.race([isUp.then(() => undefined), exited, timeout]);
  if (failed) {
    await stopAgent(agent);
    throw new Error(failed);
  }
  return agent;
}

/** SIGTERM to the agent's process group, SIGKILL after 3 s; resolves once every process of it is gone. */
async function stopAgent(agent: RunningAgent): Promise<void> {
  agent.stopping = true;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-agent.child.pid!, sig);
    } catch {
      // already gone
    }
  };
  if (agent.child.pid === undefined) return;
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 3000);
  await agent.closed;
  clearTimeout(timer);
  signal('SIGKILL'); // anything that closed its output but lingers
}

export async function demoCommand(io: CliIo, options: DemoOptions): Promise<number> {
  const resync = options.resyncSeconds ?? 4;
  const sceneTimeoutMs = (options.sceneTimeoutSeconds ?? Math.max(60, resync * 10)) * 1000;
  const path = io.env.PATH ?? process.env.PATH ?? '';
  const missing = ['sh', 'curl'].filter((tool) => !onPath(tool, path));
  if (missing.length > 0) {
    io.stderr(`error: the demo runs the real VM agent, which needs ${missing.join(' and ')} on the PATH: install ${missing.join(' and ')} (Debian/Ubuntu: sudo apt-get install ${missing.map((t) => (t === 'sh' ? 'dash' : t)).join(' ')})\n`);
    return EXIT_ERROR;
  }
  if (!existsSync(AGENT_SCRIPT) || !existsSync(join(STAND_INS, 'run-agent'))) {
    io.stderr(`error: the demo needs the repository's vm-agent/ directory (${AGENT_SCRIPT} is missing): run it from a clone (npm start)\n`);
    return EXIT_ERROR;
  }
  const say = (text: string) => io.stdout(`\n${options.color ? `\u001b[1m${text}\u001b[0m` : text}\n`);
  const printAgent = (vm: DemoVm, text: string) => {
    io.stdout(`${time()}  ${vm.key.padEnd(17)} ${options.color ? '\u001b[36mVM │\u001b[0m' : 'VM │'} ${short(text)}\n`);
  };

  const root = mkdtempSync(join(tmpdir(), 'jobmatch-demo-'));
  const state: DemoState = { root, manifestsDir: join(root, 'manifests'), vms: [] };
  const agents: RunningAgent[] = [];
  // However the process ends, no agent keeps polling (run-agent also stops its group when the demo's pipe closes).
  const killAll = () => {
    for (const a of agents) {
      try {
        process.kill(-a.child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  let sandbox: Sandbox | undefined;
  let health: Awaited<ReturnType<typeof startHealthServer>> | undefined;
  let controller: Controller | undefined;
  let store: DirectoryStore | undefined;
  const stopped = options.stop.then(() => 'stopped' as const);
  try {
    health = await startHealthServer();
    const healthUrl = (environment: string) => `${health!.url}/${environment}/health/`;
    const vmRoot = join(root, 'vms');
    const environments = copyExamples(state.manifestsDir, vmRoot, healthUrl);
    state.vms = environments.map((e) => vmOf(e, vmRoot)).filter((v): v is DemoVm => v !== undefined);
    sandbox = await startSandbox({ seed: seedOf(state.vms) });
    const binDir = join(root, 'bin');
    mkdirSync(binDir);
    for (const tool of ['docker', 'git', 'run-agent']) {
      copyFileSync(join(STAND_INS, tool), join(binDir, tool));
      chmodSync(join(binDir, tool), 0o755); // whatever mode the checkout gave them
    }

    say(`The operator (run --manifests ${state.manifestsDir}) against a local GCP sandbox at ${sandbox.url}; resync every ${resync} s. Ctrl-C stops it.`);
    io.stdout(`That directory is a copy of manifests/examples/ with each app.compose.directory and app.healthCheck.url pointed at this demo's stand-in VMs.\n`
      + `Each VM (${state.vms.map((v) => v.instance).join(', ')}) is a sandbox instance running the real VM agent (vm-agent/jobmatch-agent.sh) under sh, long-polling\n`
      + `its metadata server; docker and git are stand-ins (vm-agent/demo/) that only say what a real VM would run. Lines marked "VM │" come from the VMs.\n`);
    for (const vm of state.vms) agents.push(await startAgent(vm, sandbox, binDir, path, printAgent));

    const logger = silentLogger();
    store = new DirectoryStore(state.manifestsDir, logger);
    const statuses = new Map<string, EnvironmentStatus>();
    const changed: (() => void)[] = [];
    const write = store.writeStatus.bind(store);
    store.writeStatus = async (object, status) => {
      await write(object, status);
      const key = `${object.manifest.metadata.namespace ?? 'default'}/${object.manifest.metadata.name}`;
      statuses.set(key, status);
      io.stdout(line(key, status, options.color));
      for (const listener of [...changed]) listener();
    };
    /** Resolves at the next status write after which `test` holds. */
    const until = (test: (all: Map<string, EnvironmentStatus>) => boolean) => new Promise<void>((resolve) => {
      const listener = () => {
        if (test(statuses)) {
          changed.splice(changed.indexOf(listener), 1);
          resolve();
        }
      };
      changed.push(listener);
    });
    /** The scene's outcome: done, stopped (Ctrl-C), or a timeout (the demo must never hang). */
    const awaitScene = async (what: string, seen: Promise<void>): Promise<'done' | 'stopped'> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => {
        // What the environments say about it, so the error names the cause.
        const why = [...statuses].flatMap(([key, s]) => (s.conditions ?? []).filter((c) => (c.type === 'Ready' || c.type === 'Deployed') && c.status !== 'True')
          .map((c) => `${key} ${c.type} ${c.status} ${c.reason}: ${c.message.slice(0, 200)}`));
        reject(new Error(`${what}: not seen within ${sceneTimeoutMs / 1000} s (the demo gives up rather than hang)${why.length > 0 ? `\n  ${why.join('\n  ')}` : ''}`));
      }, sceneTimeoutMs)));
      try {
        return await Promise.race([seen.then(() => 'done' as const), stopped, timeout]);
      } finally {
        clearTimeout(timer);
      }
    };
    const condition = (s: EnvironmentStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);
    const holds = (key: string, type: string) => (all: Map<string, EnvironmentStatus>) => condition(all.get(key), type)?.status === 'True';
    const driftHealed = (field: string) => (all: Map<string, EnvironmentStatus>) => {
      const drift = condition(all.get(STAGING), 'DriftDetected');
      return drift?.status === 'True' && drift.message.includes(field);
    };

    const clients = createGcpClients({ projectId: environments[0]?.spec.gcp.projectId ?? 'job-match-v0', endpoint: sandbox.url });
    const engine = { caller: new GcpCaller(), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } };
    controller = new Controller({ store, engine, logger, metrics: new ControllerMetrics(), concurrency: 4, resyncSeconds: resync });
    // Every environment's first status before the first scene changes anything: each says SecretsMissing first.
    const everyKey = environments.map((e) => `${e.namespace}/${e.manifest.metadata.name}`);
    const firstReconciles = until((all) => everyKey.every((key) => all.has(key)));
    controller.enqueue(await store.load());
    store.watch((keys, removed) => {
      controller!.forget(removed);
      controller!.enqueue(keys);
    });
    if ((await awaitScene('the first reconcile of every environment', firstReconciles)) === 'stopped') return EXIT_OK;

    const project = (env: LoadedEnvironment) => `projects/${env.spec.gcp.projectId}`;
    const secret = (name: string) => `projects/${environments.find((e) => e.spec.environment === 'staging')!.spec.gcp.projectId}/secrets/${name}`;
    const stagingFile = join(state.manifestsDir, 'staging.yaml');
    let edited: { hash: string; before: string } | undefined;
    const scenes: { name: string; title: string; change: () => Promise<unknown>; done: (all: Map<string, EnvironmentStatus>) => boolean }[] = [
      {
        name: 'both VMs deployed after the secrets\' values were added',
        title: 'Behind the operator\'s back, through Google\'s own client: a person adds the external secrets\' values of both environments '
          + '(what `gcloud secrets versions add` does). Until now the rollouts waited (SecretsMissing): now each VM gets its .env.',
        change: async () => {
          for (const env of environments) {
            for (const s of env.spec.secrets.filter((x) => x.source === 'external')) {
              await clients.secrets.addSecretVersion({ parent: `${project(env)}/secrets/${secretId(env.spec.environment, s.name)}`, payload: { data: Buffer.from('value-from-a-person') } });
            }
          }
        },
        done: (all) => state.vms.every((vm) => holds(vm.key, 'Deployed')(all)) && holds(STAGING, 'Ready')(all),
      },
      {
        name: 'the bucket\'s versioning healed',
        title: 'Behind the operator\'s back, through Google\'s own client: versioning turned off on the bronze bucket',
        change: () => clients.storage.bucket(BUCKET).setMetadata({ versioning: { enabled: false } }), done: driftHealed('versioning'),
      },
      {
        name: 'the dataset\'s label healed',
        title: 'Behind the operator\'s back, through Google\'s own client: a label of the silver dataset changed',
        change: () => clients.bigquery.dataset('staging_silver').setMetadata({ labels: { layer: 'bronze' } }), done: driftHealed('labels.layer'),
      },
      {
        name: 'the IAM binding healed',
        title: 'Behind the operator\'s back, through Google\'s own client: the VM\'s access to the Postgres password removed',
        change: async () => {
          const [policy] = await clients.secrets.getIamPolicy({ resource: secret('jobmatch-staging-postgres-password') });
          await clients.secrets.setIamPolicy({ resource: secret('jobmatch-staging-postgres-password'), policy: { bindings: [], etag: policy.etag } });
        },
        done: driftHealed('IAMBinding secret/POSTGRES_PASSWORD'),
      },
      {
        name: 'the secret\'s version healed',
        title: 'Behind the operator\'s back, through Google\'s own client: every version of the Django secret key disabled',
        change: async () => {
          for (const v of (await clients.secrets.listSecretVersions({ parent: secret('jobmatch-staging-django-secret-key') }))[0]) await clients.secrets.disableSecretVersion({ name: v.name! });
        },
        done: driftHealed('jobmatch-staging-django-secret-key'),
      },
      {
        name: 'the config edit deployed',
        title: `Someone edits the app config: ${EDIT.key} becomes "${EDIT.value}" in ${stagingFile} (the watched copy). The operator rolls the new .env out to the VM.`,
        change: async () => {
          const doc = parseDocument(readFileSync(stagingFile, 'utf8'));
          const before = String(doc.getIn(['spec', 'app', 'config', EDIT.key]));
          doc.setIn(['spec', 'app', 'config', EDIT.key], EDIT.value);
          const text = String(doc);
          edited = { hash: configHash(loadManifests([{ file: stagingFile, text }]).environments[0]!.spec), before };
          // Written beside, then renamed: the watcher never reads half a file.
          writeFileSync(join(root, 'staging.yaml.new'), text);
          renameSync(join(root, 'staging.yaml.new'), stagingFile);
        },
        done: (all) => holds(STAGING, 'Deployed')(all) && all.get(STAGING)?.deployedConfigHash === edited?.hash,
      },
    ];
    for (const scene of scenes) {
      say(scene.title);
      const seen = until(scene.done);
      await scene.change();
      if ((await awaitScene(scene.name, seen)) === 'stopped') return EXIT_OK;
    }
    const vm = state.vms.find((v) => v.key === STAGING);
    const envLine = vm ? readFileSync(join(vm.composeDir, '.env'), 'utf8').split('\n').find((l) => l.startsWith(`${EDIT.key}=`)) : undefined;
    if (vm && envLine) say(`On ${vm.instance}, the agent wrote ${join(vm.composeDir, '.env')}: ${envLine} (was ${edited?.before}); deployed config ${short(edited?.hash ?? '')}`);
    say(options.once
      ? 'Every change was healed, and the config edit deployed, with no command typed.'
      : `Every change was healed, and the config edit deployed, with no command typed. Still watching: edit ${state.manifestsDir}/*.yaml and see it reconcile and roll out; Ctrl-C to stop.`);
    if (!options.once) await options.stop;
    return EXIT_OK;
  } catch (e) {
    io.stderr(`error: ${(e as Error).message}\n`);
    return EXIT_ERROR;
  } finally {
    try {
      await options.beforeCleanup?.(state);
    } catch (e) {
      io.stderr(`error: ${(e as Error).message}\n`);
    }
    await controller?.stop(1000);
    await store?.close();
    await Promise.all(agents.map(stopAgent));
    await health?.close();
    await sandbox?.close();
    rmSync(root, { recursive: true, force: true });
    process.removeListener('exit', killAll);
  }
}
