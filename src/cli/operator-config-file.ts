/** Reads the operator's configuration file (--policy for the CLI, --config for run): the config, or one message listing every error. */
import { readFile } from 'node:fs/promises';
import { formatFieldError } from '../api/field-error.js';
import type { OperatorConfig } from '../api/operator-config.js';

export async function readOperatorConfig(path: string, flag: '--policy' | '--config'): Promise<OperatorConfig | { error: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { error: `${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pass an OperatorConfig YAML file` };
  }
  // Loaded only when a file is given: it compiles its schema with ajv, which plain CLI runs never pay for.
  const { parseOperatorConfig } = await import('../api/operator-config-validation.js');
  const parsed = parseOperatorConfig(text, path);
  if ('config' in parsed) return parsed.config;
  return { error: `${flag} ${path} is not a valid OperatorConfig; nothing was done:\n${parsed.errors.map((e) => `  ${formatFieldError(e)}`).join('\n')}` };
}
