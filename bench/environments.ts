/**
 * The benchmarks' environments: staging.yaml (manifests/examples) renamed per index, so each of N environments has
 * its own bucket, datasets and VM. `environmentText` is the manifest as a file (directory mode, bench:controller);
 * `environmentObject` the same as an object to create in a cluster (bench:shards), with or without its VM.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const stagingText = readFileSync(new URL('../manifests/examples/staging.yaml', import.meta.url), 'utf8');

/** Digits of the index in the names: 4 up to 10,000 environments (e0000 … e9999), more beyond. */
export const widthFor = (count: number) => Math.max(4, String(Math.max(0, count - 1)).length);

/** The environment's name: e0042. */
export const environmentName = (i: number, width = 4) => `e${String(i).padStart(width, '0')}`;

/** The VM environment i declares (seed it in the sandbox: vmSeedFile). */
export const vmNameOf = (i: number, width = 4) => `jobmatch-${environmentName(i, width)}-vm`;

/** staging.yaml with every name of environment i; `versioning` is its bucket's (flip it for a spec edit). */
export function environmentText(i: number, versioning = true, width = 4): string {
  const n = environmentName(i, width).slice(1);
  return stagingText
    .replaceAll('jobmatch-staging-bronze-job-match-v0', `jobmatch-e${n}-bronze`)
    .replaceAll('staging_silver', `e${n}_silver`).replaceAll('staging_gold', `e${n}_gold`)
    .replaceAll('jobmatch-staging-vm', `jobmatch-e${n}-vm`)
    .replace('name: staging', `name: e${n}`).replace('environment: staging', `environment: e${n}`)
    .replace('versioning: true', `versioning: ${versioning}`);
}

export interface EnvironmentObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: Record<string, any>;
}

/**
 * Environment i as a JobMatchEnvironment object in `namespace`. `vm: false` drops what needs a VM (spec.vm, the app's
 * compose and health check, the binding on the deploy key): buckets, datasets, secrets, IAM and the app's config stay.
 */
export function environmentObject(i: number, options: { namespace: string; vm: boolean; width?: number; versioning?: boolean }): EnvironmentObject {
  const o = parse(environmentText(i, options.versioning ?? true, options.width)) as EnvironmentObject;
  o.metadata.namespace = options.namespace;
  if (!options.vm) {
    delete o.spec.vm;
    if (o.spec.app) {
      delete o.spec.app.compose;
      delete o.spec.app.healthCheck;
    }
    o.spec.iam = (o.spec.iam as { resource?: string }[]).filter((b) => b.resource !== 'secret/deploy-key');
  }
  return o;
}
