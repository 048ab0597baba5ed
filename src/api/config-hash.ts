/**
 * jobmatch-config-hash: sha256 of a length-prefixed document of every instance metadata key the VM agent acts
 * on (vm-agent/README.md). The agent recomputes it from what it read, so a truncated or altered read is refused,
 * and no value can move into another key. Pure.
 */
import { createHash } from 'node:crypto';
import type { ResolvedSpec } from './defaults.js';

export const ENV_KEY = 'jobmatch-env';
/** The secret (spec name) holding an environment's VM deploy key, Secret Manager id jobmatch-<env>-deploy-key. */
export const DEPLOY_KEY_NAME = 'deploy-key';
/** 43 symbols of 64: 258 bits. */
export const DEPLOY_KEY_LENGTH = 43;
export const DEFAULT_COMPOSE_FILE = 'docker-compose.yml';
export const DEFAULT_COMPOSE_DIRECTORY = '/opt/jobmatch';
/** How long the agent waits for the health URL when healthCheck.timeoutSeconds is not set (also its own default). */
export const DEFAULT_HEALTH_TIMEOUT_SECONDS = 180;

/** Every key whose value changes what the agent does, in the order the hashed document lists them. */
export const HASHED_KEYS = [
  'jobmatch-compose-ref', 'jobmatch-compose-file', 'jobmatch-compose-directory', 'jobmatch-health-url', 'jobmatch-health-timeout', ENV_KEY,
] as const;
export type HashedKey = (typeof HASHED_KEYS)[number];

const DOCUMENT_HEADER = 'jobmatch-config v2\n';

/** `<key> <byte length>\n<value>\n` for each hashed key (absent: empty), after a version line. */
export function configDocument(metadata: Partial<Record<string, string>>): Buffer {
  const parts: Buffer[] = [Buffer.from(DOCUMENT_HEADER)];
  for (const key of HASHED_KEYS) {
    const value = Buffer.from(metadata[key] ?? '', 'utf8');
    parts.push(Buffer.from(`${key} ${value.length}\n`), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** sha256:<hex> of configDocument: jobmatch-config-hash before any #redeploy token. */
export function contentHash(metadata: Partial<Record<string, string>>): string {
  return `sha256:${createHash('sha256').update(configDocument(metadata)).digest('hex')}`;
}

/** The hashed keys' values for a spec, given its rendered .env: exactly what the operator writes. */
export function deployedValues(spec: ResolvedSpec, env: string): Record<HashedKey, string> {
  const compose = spec.app?.compose;
  const health = spec.app?.healthCheck;
  return {
    'jobmatch-compose-ref': compose?.ref ?? '',
    'jobmatch-compose-file': compose?.file ?? DEFAULT_COMPOSE_FILE,
    'jobmatch-compose-directory': compose?.directory ?? DEFAULT_COMPOSE_DIRECTORY,
    'jobmatch-health-url': health?.url ?? '',
    'jobmatch-health-timeout': String(health?.timeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS),
    [ENV_KEY]: env,
  };
}
