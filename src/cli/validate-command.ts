/** `validate -f FILE... [--policy FILE] [--strict]`: schema and semantic checks and the operator's IAM policy, nothing else. */
import { EXIT_ERROR, EXIT_OK, type CliIo } from './io.js';
import { loadOrReport } from './load.js';
import { readOperatorConfig } from './operator-config-file.js';

/** `strict`: a document of another kind is an error; else it is skipped with a note on stderr. */
export async function validateCommand(io: CliIo, files: string[], policyFile?: string, strict = false): Promise<number> {
  const config = policyFile !== undefined ? await readOperatorConfig(policyFile, '--policy') : undefined;
  if (config && 'error' in config) {
    io.stderr(`error: ${config.error}\n`);
    return EXIT_ERROR;
  }
  const environments = await loadOrReport(io, files, { ...(config ? { iamPolicy: config.iamPolicy } : {}), otherKinds: strict ? 'refuse' : 'skip' });
  if (!environments) return EXIT_ERROR;
  for (const env of environments) {
    io.stdout(`${env.source.file}: ${env.namespace}/${env.manifest.metadata.name} (environment ${env.spec.environment}) is valid\n`);
  }
  return EXIT_OK;
}
