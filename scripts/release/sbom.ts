/**
 * The SBOM of what the image ships: `npm sbom` (CycloneDX) of the production dependencies, from the lockfile
 * (the image installs exactly that: `npm ci`, then `npm prune --omit=dev`). npm names the root component after
 * the checkout's directory: it gets the package's name, and the type of what it is, an application.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.js';

export async function writeSbom(root: string, file: string, name: string): Promise<number> {
  const out = await run('npm', ['sbom', '--sbom-format', 'cyclonedx', '--sbom-type', 'application', '--omit', 'dev', '--package-lock-only'], { cwd: root });
  const bom = JSON.parse(out) as { metadata?: { component?: { name?: string } }; components?: unknown[] };
  if (bom.metadata?.component) bom.metadata.component.name = name;
  writeFileSync(join(file), `${JSON.stringify(bom, null, 2)}\n`);
  return bom.components?.length ?? 0;
}
