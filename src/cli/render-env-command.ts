/** `render-env -f FILE [--example]`: print the environment's .env, or a commented .env.example. */
import { renderEnvExample, renderEnvFile } from '../api/env-file.js';
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';

export interface RenderEnvOptions {
  example?: boolean;
  environment?: string;
}

export async function renderEnvCommand(io: CliIo, files: string[], options: RenderEnvOptions): Promise<number> {
  const environments = await loadOrReport(io, files);
  if (!environments) return EXIT_ERROR;
  const candidates = options.environment
    ? environments.filter((e) => e.spec.environment === options.environment)
    : environments;
  if (candidates.length !== 1) {
    const names = environments.map((e) => e.spec.environment).join(', ');
    io.stderr(options.environment
      ? `error: no environment "${options.environment}" in the manifests (found: ${names}) — fix: pass one of them to --environment\n`
      : `error: the manifests hold ${environments.length} environments (${names}) — fix: choose one with --environment NAME\n`);
    return EXIT_ERROR;
  }
  const [env] = candidates as [(typeof candidates)[number]];
  io.stdout(options.example ? renderEnvExample(env.spec) : renderEnvFile(env.spec));
  return EXIT_OK;
}
