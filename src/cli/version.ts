/** The operator's version, from package.json, and the commit it was built from (two levels up from src/cli, dist/cli and the bundle alike). */
import { readFileSync } from 'node:fs';

export const OPERATOR_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The git commit of the build (dist/build-info.json, written by `npm run build`), "unknown" when there is none. */
export const OPERATOR_REVISION = ((): string => {
  try {
    const { revision } = JSON.parse(readFileSync(new URL('../../dist/build-info.json', import.meta.url), 'utf8')) as { revision?: unknown };
    return typeof revision === 'string' && /^[0-9a-f]{7,64}(-dirty)?$/.test(revision) ? revision : 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** What `--version` prints: `0.1.0 (commit 0123456789ab)`. */
export const VERSION_LINE = `${OPERATOR_VERSION} (commit ${OPERATOR_REVISION.replace(/^([0-9a-f]{12})[0-9a-f]*/, '$1')})`;
