/**
 * The real VM agent (vm-agent/jobmatch-agent.sh) under `sh`, against a metadata server (the sandbox's),
 * with recording stand-ins for docker, git and reboot first on its PATH: what it ran, in order, and
 * the .env each `docker compose up` saw. Reusable by end-to-end tests of the operator.
 *
 * The agent verifies what it reads (vm-agent/README.md): the VM needs a service account that can read the
 * environment's deploy key (jobmatch-<env>-deploy-key), and the metadata must be hashed and signed with it.
 *
 *   const s = useSandbox({ seed: { projects: [{ projectId: PROJECT, instances: [{ name: 'vm', zone: ZONE, serviceAccount: SA }],
 *     secrets: [deployKeySeed({ serviceAccount: SA })] }] } }, { compute: true });
 *   const agent = await startAgent({ metadataUrl: `${s.sandbox.metadataUrl(PROJECT, ZONE, 'vm')}/computeMetadata/v1` });
 *   const md = agentMetadata({ env, directory: agent.dir });           // hashed, signed with TEST_DEPLOY_KEY
 *   await pushAgentMetadata(s.compute, { project: PROJECT, zone: ZONE, instance: 'vm' }, md);
 *   await agent.waitFor(({ guest }) => guest['applied-hash'] === md['jobmatch-config-hash']);
 *   expect(agent.calls().filter((c) => c.command === 'up')).toHaveLength(1);
 *   afterEach(() => stopAllAgents());
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { contentHash, DEPLOY_KEY_NAME } from '../../src/api/config-hash.js';
import { secretId } from '../../src/api/naming.js';
import type { ComputeClients } from '../../src/gcp/compute-clients.js';
import { CONFIG_HASH_KEY, signedKeys } from '../../src/kinds/deployment/signing.js';

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
  /** For docker compose: the bytes of its -f file at that moment. */
  compose?: string;
  /** For docker compose: the bytes of its --env-file at that moment (undefined: none given). */
  envFile?: string;
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
  /**
   * A post-checkout hook in the checkout: unless git runs with hooks disabled (-c core.hooksPath=/dev/null), every
   * checkout runs it, and it appends a line to the compose file on disk (so `status --porcelain` shows it modified).
   */
  hookOnCheckout(): void;
  /** Whether that hook ran. */
  hookRan(): boolean;
  /** The next checkout leaves the tree dirty whatever git's options: `status --porcelain` answers `line`. */
  dirtyNextCheckout(line?: string): void;
}

/** The commit the git stand-in answers for a ref name: sha1 of the name (a 40-hex name is itself). */
export function fakeSha(ref: string): string {
  return /^[0-9a-f]{40}$/.test(ref) ? ref : createHash('sha1').update(ref).digest('hex');
}
/** HEAD of a fresh stand-in checkout. */
export const INITIAL_HEAD = fakeSha('initial');
/** What the git stand-in answers for `git show SHA:FILE`: the compose file of that commit. */
export function fakeComposeBlob(sha: string, file = 'docker-compose.yml'): string {
  return `# ${file} at ${sha} (git stand-in)\nservices: {}\n`;
}
/** The line the post-checkout hook of hookOnCheckout() appends to the compose file on disk. */
export const HOOK_LINE = '# rewritten by a post-checkout hook';

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
file=
envfile=
while [ "$#" -gt 0 ]; do
  case $1 in
    --project-directory) project=$2; shift 2 ;;
    -f | --file) file=$2; shift 2 ;;
    --env-file) envfile=$2; shift 2 ;;
    -p | --project-name) shift 2 ;;
    -*) shift ;;
    *) command=$1; break ;;
  esac
done
printf '%s' "$command" >"$slot/command"
printf '%s' "$project" >"$slot/dir"
if [ "$command" = up ] && [ -f "$project/.env" ]; then cp "$project/.env" "$slot/env"; fi
if [ -n "$file" ] && [ -f "$file" ]; then cp "$file" "$slot/compose"; fi
if [ -n "$envfile" ] && [ -f "$envfile" ]; then cp "$envfile" "$slot/env-file"; fi
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
hooks=on
while [ "$#" -gt 0 ]; do
  case $1 in
    -C) dir=$2; shift 2 ;;
    -c) if [ "$2" = core.hooksPath=/dev/null ]; then hooks=off; fi; shift 2 ;;
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
  checkout)
    printf '%s\n' "$last" >"$standin/head"
    rm -f "$standin/dirty"
    if [ "$hooks" = on ] && [ -e "$standin/hook" ]; then
      printf '%s\n' '${HOOK_LINE}' >>"$dir/docker-compose.yml"
      printf ' M docker-compose.yml\n' >"$standin/dirty"
      : >"$standin/hook-ran"
    fi
    if [ -e "$standin/dirty-next-checkout" ]; then mv "$standin/dirty-next-checkout" "$standin/dirty"; fi
    ;;
  status) if [ -e "$standin/dirty" ]; then cat "$standin/dirty"; fi ;;
  show)
    sha=$(printf '%s' "$last" | cut -d: -f1)
    file=$(printf '%s' "$last" | cut -d: -f2-)
    printf '# %s at %s (git stand-in)\nservices: {}\n' "$file" "$sha"
    ;;
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
  // git runs as JOBMATCH_APP_USER when the agent is root: that user must reach, record and leave its markers.
  chmodSync(binDir, 0o755);
  for (const d of [dir, callsDir]) chmodSync(d, 0o777);
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
        ...(read('compose') !== undefined ? { compose: read('compose') } : {}),
        ...(read('env-file') !== undefined ? { envFile: read('env-file') } : {}),
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
    hookOnCheckout: () => writeFileSync(join(dir, 'hook'), ''),
    hookRan: () => existsSync(join(dir, 'hook-ran')),
    dirtyNextCheckout: (line = ' M docker-compose.yml\n') => writeFileSync(join(dir, 'dirty-next-checkout'), line, { mode: 0o666 }),
  };
}

/** Every command line the agent ran of some real tools (curl, openssl ...): wrappers that record argv, then exec the tool. */
export interface ArgvRecorder {
  binDir: string;
  /** Each recorded command line: the tool's name, then its arguments. */
  argv(): string[][];
}

export function recordingWrappers(dir: string, tools: string[]): ArgvRecorder {
  const binDir = join(dir, 'wrappers');
  const log = join(dir, 'argv');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(log, { recursive: true });
  for (const d of [dir, binDir]) chmodSync(d, 0o755);
  chmodSync(log, 0o777);
  for (const tool of tools) {
    const real = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (!real) continue;
    // One file per call: the tool's name and its arguments, each ended by a NUL.
    writeFileSync(join(binDir, tool), [
      '#!/bin/sh',
      `printf '%s\\0' '${tool}' "$@" >"$(/usr/bin/mktemp '${log}/call.XXXXXXXX')"`,
      `exec '${real}' "$@"`,
      '',
    ].join('\n'), { mode: 0o755 });
  }
  return {
    binDir,
    argv: () => readdirSync(log).map((f) => readFileSync(join(log, f), 'utf8').split('\0').slice(0, -1)),
  };
}

export interface AgentOptions {
  /** JOBMATCH_METADATA_URL: an instance's metadata server, up to /computeMetadata/v1. */
  metadataUrl: string;
  /** Where the compose directory, state and stand-ins go (default: a new temp dir, removed by stopAllAgents). */
  workDir?: string;
  /** The compose directory (default workDir/app); created, with an empty docker-compose.yml, when absent. */
  dir?: string;
  /**
   * JOBMATCH_ENVIRONMENT: whose deploy key (jobmatch-<env>-deploy-key) checks the signature (default TEST_ENVIRONMENT);
   * null leaves it unset.
   */
  environment?: string | null;
  /** JOBMATCH_SECRET_MANAGER_URL (default: the sandbox that serves metadataUrl). */
  secretManagerUrl?: string;
  /**
   * JOBMATCH_APP_USER: owner of the checkout. When the tests run as root the compose directory is chowned to it (as
   * on a VM: the app user's clone), so the agent writes .env and runs git as that user.
   */
  appUser?: string;
  /** More environment (JOBMATCH_HEALTH_INTERVAL, JOBMATCH_COMPOSE_DIRECTORIES ...), over the quick defaults. */
  env?: Record<string, string>;
  /** Directories put on PATH before the stand-ins (recordingWrappers' binDir, say). */
  pathPrefix?: string[];
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
  /** The pid of the agent's shell ($$ in the script), while it runs. */
  pid(): number | undefined;
  /** SIGTERM to its process group, then waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILL to its process group (the agent and whatever it runs), then waits for it to exit. */
  kill(): Promise<void>;
  /** Stops it if running, then starts it again with the same environment and directories. */
  restart(): Promise<void>;
}

const started = new Set<{ agent: Agent; workDir?: string }>();

/** uid and gid of a local user (from /etc/passwd). */
export function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name} in /etc/passwd`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** The sandbox serving a per-VM metadata URL (<sandbox>/__metadata/...): its Secret Manager too. */
function sandboxUrlOf(metadataUrl: string): string {
  const at = metadataUrl.indexOf('/__metadata/');
  return at >= 0 ? metadataUrl.slice(0, at) : 'http://127.0.0.1:9';
}

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
  if (options.appUser !== undefined && process.getuid?.() === 0) {
    const owner = userIds(options.appUser);
    for (const path of [dir, join(dir, 'docker-compose.yml')]) chownSync(path, owner.uid, owner.gid);
  }
  const standIns = recordingStandIns(join(workDir, 'stand-ins'));
  const environment = options.environment === undefined ? TEST_ENVIRONMENT : options.environment;
  const env: NodeJS.ProcessEnv = {
    PATH: [...(options.pathPrefix ?? []), standIns.path].join(':'),
    HOME: workDir,
    LANG: 'C.UTF-8',
    JOBMATCH_METADATA_URL: options.metadataUrl,
    JOBMATCH_STATE_DIR: stateDir,
    JOBMATCH_HEALTH_INTERVAL: '0.1',
    JOBMATCH_BACKOFF_MAX: '1',
    JOBMATCH_POLL_TIMEOUT: '30',
    JOBMATCH_SECRET_MANAGER_URL: options.secretManagerUrl ?? sandboxUrlOf(options.metadataUrl),
    // The checkouts the agent may deploy into: the test's own directories.
    JOBMATCH_COMPOSE_DIRECTORIES: resolve(dir, '..') === workDir ? workDir : `${workDir} ${dir}`,
    ...(environment !== null ? { JOBMATCH_ENVIRONMENT: environment } : {}),
    ...(options.appUser !== undefined ? { JOBMATCH_APP_USER: options.appUser } : {}),
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
    pid: () => (agent.running() ? child!.pid : undefined),
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

/** The environment whose deploy key signs the tests' configurations (JOBMATCH_ENVIRONMENT of startAgent). */
export const TEST_ENVIRONMENT = 'staging';
/** The deploy key the tests sign with (43 symbols, as the operator generates them). */
export const TEST_DEPLOY_KEY = 'k3y-for-tests-only_0123456789abcdefghijklmno';
/** Secret Manager id of an environment's deploy key: jobmatch-<env>-deploy-key. */
export function deployKeySecretId(environment = TEST_ENVIRONMENT): string {
  return secretId(environment, DEPLOY_KEY_NAME);
}

/** A VM's service account email (instances seeded with it get a token from their metadata server). */
export function vmServiceAccount(name: string, project = 'job-match-v0'): string {
  return `${name}@${project}.iam.gserviceaccount.com`;
}

/**
 * The seed of an environment's deploy key (a secret with one version per key, oldest first), readable by
 * `readers` (service account emails) through roles/secretmanager.secretAccessor on the secret.
 */
export function deployKeySeed({ environment = TEST_ENVIRONMENT, keys = [TEST_DEPLOY_KEY], readers = [] }: {
  environment?: string; keys?: string[]; readers?: string[];
} = {}): { secretId: string; versions: { data: string }[]; iamPolicy?: { bindings: { role: string; members: string[] }[] } } {
  return {
    secretId: deployKeySecretId(environment),
    versions: keys.map((data) => ({ data })),
    ...(readers.length > 0 ? { iamPolicy: { bindings: [{ role: 'roles/secretmanager.secretAccessor', members: readers.map((r) => `serviceAccount:${r}`) }] } } : {}),
  };
}

/** Seeds a deploy key into a running sandbox (POST /__sandbox/seed): for tests whose sandbox exists already. */
export async function seedDeployKey(sandboxUrl: string, project: string, seed: Parameters<typeof deployKeySeed>[0] = {}): Promise<void> {
  const res = await fetch(`${sandboxUrl}/__sandbox/seed`, { method: 'POST', body: JSON.stringify({ projects: [{ projectId: project, secrets: [deployKeySeed(seed)] }] }) });
  if (res.status !== 200) throw new Error(`seeding the deploy key: HTTP ${res.status} ${await res.text()}`);
}

/** What the operator writes to the instance metadata (jobmatch-* and enable-guest-attributes). */
export interface AgentMetadata {
  env: string;
  directory: string;
  /** Default: main. */
  ref?: string;
  /** Omitted: not written (the agent's default, docker-compose.yml; hashed as empty). */
  file?: string;
  healthUrl?: string;
  healthTimeout?: number | string;
  /** Raw values over the ones above (hostile ones, say): hashed and signed as written. */
  set?: Record<string, string>;
  /** Keys not written at all (hashed as empty values). */
  omit?: string[];
  /** A redeploy: jobmatch-config-hash is the content hash, then `#<redeploy>` (e.g. redeploy-0123456789ab). */
  redeploy?: string;
  /** jobmatch-config-hash as written, instead of the one computed (to test a mismatch, a malformed hash). */
  hash?: string;
}

/** How agentMetadata signs: false writes no signature keys at all. */
export interface AgentSigning {
  /** The deploy key's bytes (default TEST_DEPLOY_KEY). */
  key?: Buffer | string;
  /** jobmatch-config-key-version (default 1). */
  keyVersion?: string;
  /** jobmatch-config-serial (default: a fresh one, above every one given before in this process). */
  serial?: string;
}

let lastSerial = 0n;
/** A serial above every one this process handed out, at least the time in ms (as the operator's nextSerial). */
export function freshSerial(): string {
  const now = BigInt(Date.now());
  lastSerial = lastSerial + 1n > now ? lastSerial + 1n : now;
  return lastSerial.toString();
}

/**
 * The metadata items for an agent, as the operator writes them: jobmatch-config-hash is the content hash
 * (src/api/config-hash.ts) of exactly the values written, and the signature keys sign it (src/kinds/deployment/signing.ts).
 */
export function agentMetadata(m: AgentMetadata, signing: AgentSigning | false = {}): Record<string, string> {
  const values: Record<string, string> = {
    'jobmatch-env': m.env,
    'jobmatch-compose-ref': m.ref ?? 'main',
    ...(m.file !== undefined ? { 'jobmatch-compose-file': m.file } : {}),
    'jobmatch-compose-directory': m.directory,
    ...(m.healthUrl !== undefined ? { 'jobmatch-health-url': m.healthUrl } : {}),
    ...(m.healthTimeout !== undefined ? { 'jobmatch-health-timeout': String(m.healthTimeout) } : {}),
    ...m.set,
  };
  for (const key of m.omit ?? []) delete values[key];
  const rolloutId = m.hash ?? (m.redeploy !== undefined ? `${contentHash(values)}#${m.redeploy}` : contentHash(values));
  const signed = signing === false ? {} : signedKeys(
    Buffer.from(signing.key ?? TEST_DEPLOY_KEY), signing.keyVersion ?? '1', rolloutId, signing.serial ?? freshSerial(),
  );
  return { ...values, 'enable-guest-attributes': 'TRUE', [CONFIG_HASH_KEY]: rolloutId, ...signed };
}

/** The rollout id (jobmatch-config-hash) of agentMetadata's items. */
export function rolloutIdOf(metadata: Record<string, string>): string {
  return metadata[CONFIG_HASH_KEY]!;
}

/** The jobmatch-* keys a configuration may write: push them all, with `remove` these not in `set`, to start clean. */
export const AGENT_KEYS = [
  'jobmatch-env', 'jobmatch-compose-ref', 'jobmatch-compose-file', 'jobmatch-compose-directory', 'jobmatch-health-url',
  'jobmatch-health-timeout', 'jobmatch-config-hash', 'jobmatch-config-serial', 'jobmatch-config-signature', 'jobmatch-config-key-version',
];

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

/**
 * A metadata server in front of another (the sandbox's), forwarding every request (long polls included) unless
 * `intercept` answers it itself: e.g. a misbehaving server that announces a value's full length and closes early.
 */
export interface MetadataProxy {
  /** Its base URL, standing for `target`: same paths below it. */
  url: string;
  /** Return true when it has answered (or destroyed) the response itself; the upstream answer is given. */
  intercept: ((path: string, upstream: { status: number; headers: Record<string, string>; body: Buffer }, res: import('node:http').ServerResponse) => boolean) | undefined;
  close(): Promise<void>;
}

export async function startMetadataProxy(target: string): Promise<MetadataProxy> {
  const base = new URL(target);
  const proxy: MetadataProxy = { url: '', intercept: undefined, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const up = httpRequest({
        host: base.hostname, port: base.port, method: req.method, path: `${base.pathname.replace(/\/$/, '')}${path}`,
        headers: { ...req.headers, host: base.host },
      }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          const headers = Object.fromEntries(Object.entries(upRes.headers).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
          const upstream = { status: upRes.statusCode ?? 502, headers, body: Buffer.concat(body) };
          if (proxy.intercept?.(path, upstream, res)) return;
          res.writeHead(upstream.status, headers);
          res.end(upstream.body);
        });
      });
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => {
    server.closeAllConnections();
    return new Promise<void>((done) => server.close(() => done()));
  };
  return proxy;
}
