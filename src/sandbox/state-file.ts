/** --state FILE: the store survives restarts (written atomically, a moment after each change). */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { StateData } from './store.js';

export function loadStateFile(path: string): StateData | undefined {
  if (!existsSync(path)) return undefined;
  const data = JSON.parse(readFileSync(path, 'utf8')) as StateData;
  if (typeof data !== 'object' || data === null || typeof data.projects !== 'object' || typeof data.buckets !== 'object') {
    throw new Error(`${path} is not a sandbox state file`);
  }
  return data;
}

export function saveStateFile(path: string, data: StateData): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data));
  renameSync(tmp, path);
}
