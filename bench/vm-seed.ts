/**
 * A sandbox seed (`sandbox --seed FILE`) holding the VMs the benchmarks' manifests declare: with its VM present, an
 * environment whose external secrets have no value converges with its rollout waiting (SecretsMissing), as a real
 * one does before anyone adds them; without it, the Deployment would be a conflict (VM not found).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROJECT = 'job-match-v0';
export const ZONE = 'europe-west1-b';

/** The VM of a manifest derived from staging.yaml, where "jobmatch-staging-vm" was renamed `name`. */
export const vmOf = (name: string) => ({ name, zone: ZONE, serviceAccount: `${name}@${PROJECT}.iam.gserviceaccount.com` });

/** Writes a seed file with these VMs; `remove` deletes it. */
export function vmSeedFile(names: string[]): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'jme-bench-seed-'));
  const file = join(dir, 'seed.json');
  writeFileSync(file, JSON.stringify({ projects: [{ projectId: PROJECT, instances: names.map(vmOf) }] }));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
