/** The operator's version, from package.json (two levels up from src/cli, dist/cli and the bundle alike). */
import { readFileSync } from 'node:fs';

export const OPERATOR_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
