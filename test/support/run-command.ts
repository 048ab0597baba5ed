/** Runs a command for test infrastructure (Go builds, tools): its output, or undefined when it cannot be started at all (not installed). */
import { spawn } from 'node:child_process';
import { constants as osConstants, setPriority } from 'node:os';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; lowPriority?: boolean } = {}): Promise<Run | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (options.lowPriority && child.pid !== undefined) {
      try {
        setPriority(child.pid, osConstants.priority.PRIORITY_LOW);
      } catch {
        // not allowed here: build at normal priority
      }
    }
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'EACCES' ? resolve(undefined) : reject(e)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
