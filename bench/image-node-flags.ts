/** The Node flags the image runs the operator with (its Dockerfile's NODE_OPTIONS): the benchmarks measure what ships. */
import { readFileSync } from 'node:fs';

export function imageNodeFlags(): string {
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  return /^ENV NODE_OPTIONS="([^"]*)"/m.exec(dockerfile)?.[1] ?? '';
}
