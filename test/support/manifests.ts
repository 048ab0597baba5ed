/** Example manifests for tests: the committed examples, and mutated copies of them. */
import { readFileSync } from 'node:fs';
import { stringify, parse } from 'yaml';

export const EXAMPLES_DIR = new URL('../../manifests/examples/', import.meta.url);

export function exampleText(name: 'staging' | 'prod'): string {
  return readFileSync(new URL(`${name}.yaml`, EXAMPLES_DIR), 'utf8');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = any;

export function exampleDoc(name: 'staging' | 'prod' = 'staging'): Doc {
  return parse(exampleText(name));
}

/** The staging example, changed by `mutate`, as YAML text. */
export function mutated(mutate: (doc: Doc) => void, name: 'staging' | 'prod' = 'staging'): string {
  const doc = exampleDoc(name);
  mutate(doc);
  return stringify(doc);
}
