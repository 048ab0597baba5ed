/**
 * The Node.js version the CLI needs (package.json `engines.node`, read like the version): below it some commands load
 * and others die inside a dependency (`Cannot read properties of undefined (reading 'bind')` from the Kubernetes client
 * on Node 20), so every command checks it first and says which Node is needed and how to get it.
 */
import { readFileSync } from 'node:fs';

/** `engines.node` of package.json (two levels up from src/cli, dist/cli and the bundle alike), e.g. ">=22.12". */
export const REQUIRED_NODE = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '';

const numbers = (version: string) => (/(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version) ?? []).slice(1, 4).map((n) => Number(n ?? 0));

/** Undefined when `version` (e.g. "v20.20.2") satisfies `required` (">=MAJOR[.MINOR[.PATCH]]"); else the message to print. */
export function nodeVersionProblem(version: string, required: string = REQUIRED_NODE, execPath = ''): string | undefined {
  const floor = /^\s*>=\s*v?(\d+(?:\.\d+){0,2})\s*$/.exec(required)?.[1];
  if (!floor) return undefined; // a range this check does not understand: let Node try
  const have = numbers(version);
  const need = numbers(floor);
  for (let i = 0; i < 3; i++) {
    if (have[i]! > need[i]!) return undefined;
    if (have[i]! < need[i]!) {
      return `jobmatch-operator needs Node.js ${required} (package.json "engines"), but this is Node.js ${version}${execPath ? ` (${execPath})` : ''}. `
        + 'In a checkout of the project, `npm ci` installs its own Node 24: run `node_modules/.bin/node bin/jobmatch-operator.js …` or `npx jobmatch-operator …`; '
        + 'elsewhere install Node 24 (e.g. `nvm install 24 && nvm use 24`).';
    }
  }
  return undefined;
}
