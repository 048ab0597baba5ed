/**
 * One build at a time per cache directory, across processes (vitest runs test files in parallel workers, and two
 * first builds of the same Go tool at once would need twice the memory and take twice as long): a lock directory
 * holding its owner's pid, taken over when that process is gone.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs fn holding `<dir>/.build-lock`; `what` names the build in the one line said while waiting for another process. */
export async function withBuildLock<T>(dir: string, what: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.build-lock');
  let waiting = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner: number | undefined;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // the owner has not written its pid yet
      }
      if (owner && !pidAlive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!waiting) log(`${what}: waiting for another process${owner ? ` (pid ${owner})` : ''} building into ${dir}…`);
      waiting = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
