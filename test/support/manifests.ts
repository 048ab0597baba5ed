/** Example manifests for tests: the committed examples, and mutated copies of them. */
import { readFileSync } from 'node:fs';
import { stringify, parse } from 'yaml';

export const EXAMPLES_DIR = new URL('../../manifests/examples/', import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = any;

export interface ExampleOptions {
  /** false: without spec.vm and the app's compose and health check, for tests of the other kinds (no VM, no rollout). */
  vm?: boolean;
}

/** Tests of buckets, datasets, secrets and IAM: the examples without their VM. */
export const NO_VM: ExampleOptions = { vm: false };

/** The example without its deployment: no VM to find, no rollout to wait for. */
export function withoutVm(doc: Doc): Doc {
  delete doc.spec.vm;
  // The deploy key exists only with a VM.
  if (doc.spec.iam) doc.spec.iam = doc.spec.iam.filter((b: { resource?: string }) => b.resource !== 'secret/deploy-key');
  if (doc.spec.app) {
    delete doc.spec.app.compose;
    delete doc.spec.app.healthCheck;
  }
  return doc;
}

export function exampleText(name: 'staging' | 'prod', options: ExampleOptions = {}): string {
  const text = readFileSync(new URL(`${name}.yaml`, EXAMPLES_DIR), 'utf8');
  return options.vm === false ? stringify(withoutVm(parse(text))) : text;
}

export function exampleDoc(name: 'staging' | 'prod' = 'staging', options: ExampleOptions = {}): Doc {
  return parse(exampleText(name, options));
}

/** The staging example, changed by `mutate`, as YAML text. */
export function mutated(mutate: (doc: Doc) => void, name: 'staging' | 'prod' = 'staging', options: ExampleOptions = {}): string {
  const doc = exampleDoc(name, options);
  mutate(doc);
  return stringify(doc);
}
