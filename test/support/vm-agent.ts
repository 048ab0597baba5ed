/**
 * The real VM agent (vm-agent/jobmatch-agent.sh) under `sh`, against a metadata server (the sandbox's),
 * with recording stand-ins for docker, git and reboot first on its PATH: what it ran, in order, and
 * the .env each `docker compose up` saw. Reusable by end-to-end tests of the operator.
 *
 *   const agent = await startAgent({ metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, 'vm')}/computeMetadata/v1` });
 *   await pushAgentMetadata(s.compute, { project: PROJECT, zone: ZONE, instance: 'vm' }, agentMetadata({ hash, env, directory: agent.dir }));
 *   await agent.waitFor(({ guest }) => guest['applied-hash'] === hash);
 *   expect(agent.calls().filter((c) => c.command === 'up')).toHaveLength(1);
 *   afterEach(() => stopAllAgents());
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ComputeClients } from '../../src/gcp/compute-clients.js';

export const VM_AGENT_DIR = resolve(fileURLToPath(new URL('../../vm-agent', import.meta.url)));
export const AGENT_SCRIPT = join(VM_AGENT_DIR, 'jobmatch-agent.sh');
/** The guest attributes the agent writes, in namespace jobmatch. */
export const GUEST_KEYS = ['attempted-hash', 'status', 'message', 'applied-hash'] as const;
export type GuestAttributes = Partial<Record<(typeof GUEST_KEYS)[number], string>>;

/** One call of a stand-in, in the order they started. */
export interface Recorded {
  seq: number;
  tool: 'docker' | 'git' | 'reboot';
  /** Every argument, as received. */
  argv: string[];
  /** git's subcommand (fetch, rev-parse, checkout) or docker compose's (pull, up); '' for reboot. */
  command: string;
  /** docker compose --project-directory, or git -C. */
  dir?: string;
  /** The uid it ran as. */
  uid: number;
  /** For `docker compose up`: the project directory's .env at that moment (undefined: there was none). */
  env?: string;
}

export interface StandIns {
  /** The directory holding docker, git and reboot. */
  binDir: string;
  /** PATH with the stand-ins first. */
  path: string;
  /** The calls so far, in order. */
  calls(): Recorded[];
  /** Every `docker compose pull` from now on waits (after being recorded) until releasePull(). */
  blockPull(): void;
  releasePull(): void;
  /** The next call of `tool command` (e.g. docker up, git fetch, git rev-parse) is recorded, then exits 1. */
  failNext(tool: 'docker' | 'git', command: string): void;
  /** The commit the git stand-in has checked out (HEAD). */
  head(): string;
}

/** The commit the git stand-in answers for a ref name: sha1 of the name (a 40-hex name is itself). */
export function fakeSha(ref: string): string {
  return /^[0-9a-f]{40}$/.test(ref) ? ref : createHash('sha1').update(ref).digest('hex');
}
/** HEAD of a fresh stand-in checkout. */
export const INITIAL_HEAD = fakeSha('initial');

const RECORD = String.raw`
# record TOOL ARGS...: a numbered directory under calls/ with argv (NUL-separated) and uid; "complete" last.
record() {
  tool=$1
  shift
  n=1
  while ! mkdir "$standin/calls/$(printf '%06d' "$n")" 2>/dev/null; do n=$((n + 1)); done
  slot=$standin/calls/$(printf '%06d' "$n")
  printf '%s' "$tool" >"$slot/tool"
  printf '%s\0' "$@" >"$slot/argv"
  id -u >"$slot/uid"
}
done_record() {
  : >"$slot/complete"
}
# fail_if_asked NAME: exits 1 once after failNext(tool, command).
fail_if_asked() {
  if [ -e "$standin/fail-$1" ] && rm "$standin/fail-$1" 2>/dev/null; then
    echo "stand-in: $1 fails as the test asked" >&2
    exit 1
  fi
}
`;

const DOCKER = String.raw`
record docker "$@"
if [ "$#" -gt 0 ] && [ "$1" = compose ]; then shift; fi
project=
command=
while [ "$#" -gt 0 ]; do
  case $1 in
    --project-directory) project=$2; shift 2 ;;
    -f | --file | -p | --project-name | --env-file) shift 2 ;;
    -*) shift ;;
    *) command=$1; break ;;
  esac
done
printf '%s' "$command" >"$slot/command"
printf '%s' "$project" >"$slot/dir"
if [ "$command" = up ] && [ -f "$project/.env" ]; then cp "$project/.env" "$slot/env"; fi
done_record
if [ "$command" = pull ]; then
  while [ -e "$standin/block-pull" ]; do sleep 0.05; done
fi
fail_if_asked "docker-$command"
echo "stand-in: docker compose $command"
`;

const GIT = String.raw`
record git "$@"
dir=
while [ "$#" -gt 0 ]; do
  case $1 in
    -C) dir=$2; shift 2 ;;
    -c) shift 2 ;;
    *) break ;;
  esac
done
command=$1
printf '%s' "$command" >"$slot/command"
printf '%s' "$dir" >"$slot/dir"
done_record
fail_if_asked "git-$command"
for last in "$@"; do :; done
case $command in
  fetch) ;;
  checkout) printf '%s\n' "$last" >"$standin/head" ;;
  rev-parse)
    spec=$last
    spec=$(printf '%s' "$spec" | sed 's/\^{commit}$//')
    if [ "$spec" = HEAD ]; then cat "$standin/head"; exit 0; fi
    name=$(printf '%s' "$spec" | sed 's#^origin/##')
    if printf '%s' "$name" | grep -Eqx '[0-9a-f]{40}'; then
      [ "$name" != "$spec" ] && exit 1
      printf '%s\n' "$name"
      exit 0
    fi
    case $name in missing*) exit 1 ;; esac
    printf '%s' "$name" | sha1sum | cut -c1-40
    ;;
  *) echo "stand-in git: $command is not expected" >&2; exit 1 ;;
esac
`;

const REBOOT = String.raw`
record reboot "$@"
printf '' >"$slot/command"
done_record
`;

/** docker, git and reboot stand-ins in dir/bin, recording into dir/calls. */
export function recordingStandIns(dir: string): StandIns {
  const binDir = join(dir, 'bin');
  const callsDir = join(dir, 'calls');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(callsDir, { recursive: true });
  // git runs as JOBMATCH_APP_USER when the agent is root: that user must reach and record.
  for (const d of [dir, binDir]) chmodSync(d, 0o755);
  chmodSync(callsDir, 0o777);
  writeFileSync(join(dir, 'head'), `${INITIAL_HEAD}\n`, { mode: 0o666 });
  chmodSync(join(dir, 'head'), 0o666);
  const header = (what: string) => `#!/bin/sh\n# ${what} stand-in (test/support/vm-agent.ts)\nset -eu\nstandin='${dir}'\n`;
  for (const [name, body] of [['docker', DOCKER], ['git', GIT], ['reboot', REBOOT]] as const) {
    writeFileSync(join(binDir, name), `${header(name)}${RECORD}${body}`, { mode: 0o755 });
  }
  const calls = (): Recorded[] => {
    const out: Recorded[] = [];
    for (const name of readdirSync(callsDir).sort()) {
      const slot = join(callsDir, name);
      if (!existsSync(join(slot, 'complete'))) continue;
      const read = (f: string) => (existsSync(join(slot, f)) ? readFileSync(join(slot, f), 'utf8') : undefined);
      const argv = readFileSync(join(slot, 'argv'), 'utf8').split('\0');
      argv.pop();
      const dirOf = read('dir');
      out.push({
        seq: Number(name),
        tool: read('tool') as Recorded['tool'],
        argv,
        command: read('command') ?? '',
        ...(dirOf ? { dir: dirOf } : {}),
        uid: Number(read('uid')),
        ...(read('env') !== undefined ? { env: read('env') } : {}),
      });
    }
    return out;
  };
  return {
    binDir,
    path: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    calls,
    blockPull: () => writeFileSync(join(dir, 'block-pull'), ''),
    releasePull: () => rmSync(join(dir, 'block-pull'), { force: true }),
    failNext: (tool, command) => writeFileSync(join(dir, `fail-${tool}-${command}`), '', { mode: 0o666 }),
    head: () => readFileSync(join(dir, 'head'), 'utf8').trim(),
  };
}

export interface AgentOptions {
  /** JOBMATCH_METADATA_URL: an instance's metadata server, up to /computeMetadata/v1. */
  metadataUrl: string;
  /** Where the compose directory, state and stand-ins go (default: a new temp dir, removed by stopAllAgents). */
  workDir?: string;
  /** The compose directory (default workDir/app); created, with an empty docker-compose.yml, when absent. */
  dir?: string;
  /** More environment (JOBMATCH_APP_USER, JOBMATCH_HEALTH_INTERVAL ...), over the quick defaults. */
  env?: Record<string, string>;
  /** The agent script (default vm-agent/jobmatch-agent.sh). */
  script?: string;
}

/** What waitFor's predicate sees. */
export interface AgentView {
  guest: GuestAttributes;
  calls: Recorded[];
  log: string;
}

export interface Agent {
  /** The compose directory (jobmatch-compose-directory): a temp dir holding docker-compose.yml. */
  dir: string;
  stateDir: string;
  standIns: StandIns;
  calls(): Recorded[];
  /** The guest attributes jobmatch/*, read from the metadata server. */
  guest(): Promise<GuestAttributes>;
  /** Resolves with the predicate's first truthy answer; rejects after timeoutMs with the agent's log. */
  waitFor<T>(predicate: (view: AgentView) => T | undefined | null | false, options?: { timeoutMs?: number; what?: string }): Promise<T>;
  /** stdout and stderr so far, across restarts. */
  log(): string;
  /** Whether the agent process is running. */
  running(): boolean;
  /** SIGTERM to its process group, then waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILL to its process group (the agent and whatever it runs), then waits for it to exit. */
  kill(): Promise<void>;
  /** Stops it if running, then starts it again with the same environment and directories. */
  restart(): Promise<void>;
}

const started = new Set<{ agent: Agent; workDir?: string }>();

/** Starts the agent; resolves once it has logged that it started. */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'jobmatch-agent-'));
  chmodSync(workDir, 0o755);
  const dir = options.dir ?? join(workDir, 'app');
  const stateDir = join(workDir, 'state');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  if (!existsSync(join(dir, 'docker-compose.yml'))) writeFileSync(join(dir, 'docker-compose.yml'), 'services: {}\n');
  const standIns = recordingStandIns(join(workDir, 'stand-ins'));
  const env: NodeJS.ProcessEnv = {
    PATH: standIns.path,
    HOME: workDir,
    LANG: 'C.UTF-8',
    JOBMATCH_METADATA_URL: options.metadataUrl,
    JOBMATCH_STATE_DIR: stateDir,
    JOBMATCH_HEALTH_INTERVAL: '0.1',
    JOBMATCH_BACKOFF_MAX: '1',
    JOBMATCH_POLL_TIMEOUT: '30',
    ...options.env,
  };
  const script = options.script ?? AGENT_SCRIPT;
  let output = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    const marker = output.length;
    const proc = spawn('sh', [script], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    exited = new Promise((done) => proc.once('exit', () => done()));
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    let gone = false;
    void exited.then(() => (gone = true));
    const deadline = Date.now() + 10_000;
    while (!output.slice(marker).includes('jobmatch-agent: started')) {
      if (gone || Date.now() > deadline) throw new Error(`the agent did not start:\n${output.slice(marker)}`);
      await sleep(10);
    }
  };

  const signal = async (sig: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    try {
      process.kill(-proc.pid!, sig);
    } catch {
      // already gone
    }
    await exited;
  };

  const guest = async (): Promise<GuestAttributes> => {
    const out: GuestAttributes = {};
    await Promise.all(GUEST_KEYS.map(async (key) => {
      const res = await fetch(`${options.metadataUrl}/instance/guest-attributes/jobmatch/${key}`, { headers: { 'metadata-flavor': 'Google' } });
      const text = await res.text();
      if (res.status === 200) out[key] = text;
    }));
    return out;
  };

  const agent: Agent = {
    dir,
    stateDir,
    standIns,
    calls: () => standIns.calls(),
    guest,
    async waitFor(predicate, { timeoutMs = 15_000, what = 'the condition' } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const answer = predicate({ guest: await guest(), calls: standIns.calls(), log: output });
        if (answer) return answer;
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; guest ${JSON.stringify(await guest())}; agent log:\n${output}`);
        }
        await sleep(25);
      }
    },
    log: () => output,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop: async () => {
      const timer = setTimeout(() => void signal('SIGKILL'), 5_000);
      await signal('SIGTERM');
      clearTimeout(timer);
    },
    kill: () => signal('SIGKILL'),
    restart: async () => {
      await agent.stop();
      await launch();
    },
  };
  started.add({ agent, ...(ownWorkDir ? { workDir } : {}) });
  await launch();
  return agent;
}

/** Kills every agent started (and whatever it runs) and removes their temp dirs: for afterEach. */
export async function stopAllAgents(): Promise<void> {
  for (const entry of [...started]) {
    started.delete(entry);
    await entry.agent.kill();
    if (entry.workDir) rmSync(entry.workDir, { recursive: true, force: true });
  }
}

// A test runner that dies must not leave agents polling.
process.once('exit', () => {
  for (const { agent } of started) if (agent.running()) void agent.kill();
});

/** What the operator writes to the instance metadata (jobmatch-* and enable-guest-attributes). */
export interface AgentMetadata {
  hash: string;
  env: string;
  directory: string;
  ref?: string;
  /** Omitted: the agent's default, docker-compose.yml. */
  file?: string;
  healthUrl?: string;
  healthTimeout?: number | string;
}

/** The metadata items for an agent, as the operator writes them. */
export function agentMetadata(m: AgentMetadata): Record<string, string> {
  return {
    'jobmatch-config-hash': m.hash,
    'jobmatch-env': m.env,
    'jobmatch-compose-ref': m.ref ?? 'main',
    ...(m.file !== undefined ? { 'jobmatch-compose-file': m.file } : {}),
    'jobmatch-compose-directory': m.directory,
    ...(m.healthUrl !== undefined ? { 'jobmatch-health-url': m.healthUrl } : {}),
    ...(m.healthTimeout !== undefined ? { 'jobmatch-health-timeout': String(m.healthTimeout) } : {}),
    'enable-guest-attributes': 'TRUE',
  };
}

/** sha256:<64 hex> of a label: a well-formed configuration hash for tests. */
export function testHash(label: string): string {
  return `sha256:${createHash('sha256').update(label).digest('hex')}`;
}

/**
 * instances.setMetadata with the fingerprint read: `set` keys replaced or added, `remove` keys
 * dropped, every other key kept (as the operator does).
 */
export async function pushAgentMetadata(
  compute: ComputeClients,
  where: { project: string; zone: string; instance: string },
  set: Record<string, string>,
  remove: string[] = [],
): Promise<void> {
  const [inst] = await compute.instances.get(where);
  const kept = (inst.metadata?.items ?? [])
    .filter((i) => !(i.key! in set) && !remove.includes(i.key!))
    .map((i) => ({ key: i.key!, value: i.value ?? '' }));
  await compute.instances.setMetadata({
    ...where,
    metadataResource: { fingerprint: inst.metadata?.fingerprint, items: [...kept, ...Object.entries(set).map(([key, value]) => ({ key, value }))] },
  });
}

/** A health endpoint on 127.0.0.1 answering `status` (settable), counting hits. */
export interface HealthServer {
  /** http://127.0.0.1:PORT/healthz */
  url: string;
  /** What it answers from now on (200, 500 ...). */
  status: number;
  hits: number;
  /** The request targets (path and query) in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startHealthServer(status = 200): Promise<HealthServer> {
  const health: HealthServer = { url: '', status, hits: 0, requests: [], close: async () => {} };
  const server: Server = createServer((req, res) => {
    health.hits += 1;
    health.requests.push(req.url ?? '');
    res.writeHead(health.status, { 'content-type': 'text/plain' });
    res.end(health.status < 300 ? 'ok' : 'unhealthy');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  health.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
  health.close = () => {
    server.closeAllConnections();
    return new Promise<void>((done) => server.close(() => done()));
  };
  return health;
}
