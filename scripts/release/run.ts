/** Runs a release step's command: its stdout, or an error naming the command, its exit and its stderr. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** What to tell the user when the command is not installed. */
  installHint?: string;
}

export async function run(command: string, args: string[], options: RunOptions = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(command, args, { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 256 << 20, timeout: options.timeoutMs ?? 600_000 });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; stdout?: string; code?: number | string };
    if (e.code === 'ENOENT') throw new Error(`${command} not found${options.installHint ? `: ${options.installHint}` : ''}`);
    throw new Error(`${command} ${args.join(' ')} failed (exit ${e.code}): ${(e.stderr || e.stdout || e.message).slice(-4000)}`);
  }
}
