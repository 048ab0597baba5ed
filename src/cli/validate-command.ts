/** `validate -f FILE...`: schema and semantic checks, nothing else. */
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';

export async function validateCommand(io: CliIo, files: string[]): Promise<number> {
  const environments = await loadOrReport(io, files);
  if (!environments) return EXIT_ERROR;
  for (const env of environments) {
    io.stdout(`${env.source.file}: ${env.namespace}/${env.manifest.metadata.name} (environment ${env.spec.environment}) is valid\n`);
  }
  return EXIT_OK;
}
