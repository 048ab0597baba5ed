/**
 * The real Pub/Sub emulator of the Google Cloud SDK, for tests: its jar run directly with java (what
 * `gcloud beta emulators pubsub start` runs, less the Python wrapper and about a second), on a free loopback
 * port, in its own process group so that stopping it can never leave a JVM behind. Missing pieces fail with the
 * install instruction: never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll } from 'vitest';
import { createPubSub } from '../../src/gcp/pubsub-client.js';

export const INSTALL_HINT = 'install the Pub/Sub emulator: `gcloud components install pubsub-emulator`, or on Debian/Ubuntu '
  + '`apt-get install google-cloud-cli-pubsub-emulator openjdk-17-jre-headless` (from Google\'s apt repository)';

export interface PubSubEmulator {
  /** 127.0.0.1:PORT — what PUBSUB_EMULATOR_HOST, `apiEndpoint` and the sandbox's `pubsubEmulator` take. */
  host: string;
  port: number;
  /** The process group leader (the JVM); undefined while stopped. */
  pid: number | undefined;
  /** How long the last start took, from spawn to "Server started", in ms. */
  startMs: number;
  running(): boolean;
  /** Kills the whole process group (SIGTERM, then SIGKILL after 5 s) and resolves once it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty (the emulator keeps no state). */
  restart(): Promise<void>;
}

export interface PubSubEmulatorOptions {
  /** A fixed port; default: a free one. */
  port?: number;
  /** Give up waiting for "Server started" after this long (a cold JVM on a busy 2-core machine: a few seconds). */
  startTimeoutMs?: number;
}

/** The SDK roots to look in: CLOUDSDK_ROOT_DIR, the SDK of the `gcloud` on PATH, the Debian package's. */
function sdkRoots(): string[] {
  const roots: string[] = [];
  if (process.env.CLOUDSDK_ROOT_DIR) roots.push(process.env.CLOUDSDK_ROOT_DIR);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const gcloud = join(dir, 'gcloud');
    if (!dir || !existsSync(gcloud)) continue;
    try {
      roots.push(dirname(dirname(realpathSync(gcloud))));
    } catch {
      // a dangling link: not an SDK
    }
  }
  roots.push('/usr/lib/google-cloud-sdk', '/usr/share/google-cloud-sdk', '/google-cloud-sdk');
  return [...new Set(roots)];
}

/** The emulator's jar, or an Error saying how to install what is missing. */
export function findEmulatorJar(): string | Error {
  for (const root of sdkRoots()) {
    const lib = join(root, 'platform', 'pubsub-emulator', 'lib');
    if (!existsSync(lib)) continue;
    const jar = readdirSync(lib).filter((f) => /^cloud-pubsub-emulator-.*-all\.jar$/.test(f)).sort().pop();
    if (jar) return join(lib, jar);
  }
  return new Error(`the Pub/Sub emulator was not found (looked in ${sdkRoots().map((r) => `${r}/platform/pubsub-emulator/lib`).join(', ')}): ${INSTALL_HINT}`);
}

function javaProblem(): Error | undefined {
  const run = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (run.error) return new Error(`java is needed by the Pub/Sub emulator and was not found (${(run.error as NodeJS.ErrnoException).code}): apt-get install openjdk-17-jre-headless`);
  return undefined;
}

/** A port nobody listens on now (the emulator binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const alive = (child: ChildProcess | undefined) => child !== undefined && child.exitCode === null && child.signalCode === null;

/** Emulators still running; killed when the test process exits however it exits, so no JVM outlives its tests. */
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** Starts the emulator and resolves once it serves ("Server started, listening on PORT"). */
export async function startPubSubEmulator(options: PubSubEmulatorOptions = {}): Promise<PubSubEmulator> {
  const jar = findEmulatorJar();
  if (jar instanceof Error) throw jar;
  const java = javaProblem();
  if (java) throw java;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  let port = options.port ?? await freePort();
  let child: ChildProcess | undefined;
  let startMs = 0;

  const launch = async (): Promise<void> => {
    const started = performance.now();
    // detached: the JVM leads its own process group, so stop() can kill the group and nothing survives it.
    const proc = spawn('java', ['-jar', jar, '--host=127.0.0.1', `--port=${port}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    if (proc.pid !== undefined) running.add(proc.pid);
    const output: string[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the Pub/Sub emulator did not start within ${startTimeoutMs} ms on port ${port}:\n${output.join('\n')}`)), startTimeoutMs);
      const onLine = (line: string) => {
        if (output.length < 200) output.push(line);
        if (/Server started, listening on/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      };
      createInterface({ input: proc.stdout! }).on('line', onLine);
      createInterface({ input: proc.stderr! }).on('line', onLine);
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run java for the Pub/Sub emulator: ${e.message}`));
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the Pub/Sub emulator exited (${signal ?? `code ${code}`}) before it started on port ${port}:\n${output.join('\n')}`));
      });
    });
    try {
      await ready;
    } catch (e) {
      await stop();
      throw e;
    }
    startMs = performance.now() - started;
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.pid === undefined) return;
    const exited = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : once(proc, 'exit').then(() => undefined);
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid!, signal);
      } catch {
        // the group is gone already
      }
    };
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    // The JVM may have children of its own in the group: make sure none is left.
    killGroup('SIGKILL');
    running.delete(proc.pid);
    proc.stdout?.destroy();
    proc.stderr?.destroy();
  };

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (e) {
      // Another process took the free port between freePort() and the JVM's bind: try another one.
      if (options.port !== undefined || attempt >= 3 || !/Address already in use|BindException/.test((e as Error).message)) throw e;
      port = await freePort();
    }
  }

  return {
    get host() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return alive(child) ? child!.pid : undefined;
    },
    get startMs() {
      return startMs;
    },
    running: () => alive(child),
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}

/** One emulator for a test file: started before its tests, stopped after them. */
export function usePubSubEmulator(options: PubSubEmulatorOptions = {}): { emulator: PubSubEmulator } {
  const fixture = {} as { emulator: PubSubEmulator };
  beforeAll(async () => {
    fixture.emulator = await startPubSubEmulator(options);
  });
  afterAll(async () => fixture.emulator?.stop());
  return fixture;
}

/** A Pub/Sub client for the emulator, as the operator makes one; the tests stop and restart the emulator, so it reconnects within a second. */
export function emulatorPubSub(host: string, projectId = 'test-project'): Promise<PubSub> {
  return createPubSub(projectId, host, { initialMs: 100, maxMs: 1000 });
}

export interface ReceivedMessage {
  data: string;
  attributes: Record<string, string>;
  /** data parsed as JSON. */
  json: any;
}

/**
 * Reads a pull subscription (streaming pull) and acks everything; next(n) resolves once n messages have come
 * since the last call, and fails after timeoutMs with what did come.
 */
export function readSubscription(subscription: Subscription): { next: (n: number, timeoutMs?: number) => Promise<ReceivedMessage[]>; received: ReceivedMessage[]; close: () => Promise<void> } {
  const received: ReceivedMessage[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  subscription.on('message', (m: Message) => {
    const data = m.data.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      json = undefined;
    }
    received.push({ data, attributes: { ...m.attributes }, json });
    m.ack();
    wake?.();
  });
  subscription.on('error', () => undefined);
  return {
    received,
    next: async (n, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (received.length < taken + n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${n} message(s), got ${received.length - taken}: ${received.slice(taken).map((r) => r.data.slice(0, 200)).join('\n')}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      const out = received.slice(taken, taken + n);
      taken += n;
      return out;
    },
    close: async () => {
      subscription.removeAllListeners('message');
      await subscription.close();
    },
  };
}
