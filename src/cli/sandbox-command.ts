/** `sandbox`: the local GCP emulator, in the foreground until SIGINT/SIGTERM. */
import { readFileSync } from 'node:fs';
import { parseApiList } from '../sandbox/faults.js';
import { startSandbox } from '../sandbox/server.js';
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';

export interface SandboxCommandOptions {
  host: string;
  port: string;
  state?: string;
  seed?: string;
  latencyMs: string;
  faultRate: string;
  faultApis?: string;
  pubsubEmulator?: string;
}

function number(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${flag} must be a number from ${min} to ${max}, got "${value}"`);
  return n;
}

function hostPort(value: string, flag: string): string {
  if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(value)) throw new Error(`${flag} must be HOST:PORT such as 127.0.0.1:8085, got "${value}"`);
  return value;
}

export async function sandboxCommand(io: CliIo, options: SandboxCommandOptions, stop: Promise<unknown>): Promise<number> {
  let sandbox;
  try {
    sandbox = await startSandbox({
      host: options.host,
      port: number(options.port, '--port', 0, 65535),
      ...(options.state ? { statePath: options.state } : {}),
      ...(options.seed ? { seed: readFileSync(options.seed, 'utf8') } : {}),
      ...(options.pubsubEmulator ? { pubsubEmulator: hostPort(options.pubsubEmulator, '--pubsub-emulator') } : {}),
      faults: {
        latencyMs: number(options.latencyMs, '--latency-ms', 0, 60000),
        faultRate: number(options.faultRate, '--fault-rate', 0, 1),
        ...(options.faultApis ? { faultApis: parseApiList(options.faultApis) } : {}),
      },
    });
  } catch (e) {
    io.stderr(`error: cannot start the sandbox: ${(e as Error).message}\n`);
    return EXIT_ERROR;
  }
  io.stdout(`sandbox listening on ${sandbox.url}\n`);
  io.stderr(`point the operator at it with --gcp-endpoint ${sandbox.url} (or JOBMATCH_GCP_ENDPOINT); control plane: ${sandbox.url}/__sandbox/stats\n`);
  if (options.pubsubEmulator) io.stderr(`audit-log entries of writes go to the Pub/Sub emulator at ${options.pubsubEmulator}, to the topics of Pub/Sub sinks (jobmatch-operator drift-events setup makes one)\n`);
  await stop;
  await sandbox.close();
  return EXIT_OK;
}
