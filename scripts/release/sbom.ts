/**
 * The SBOM of what the image ships: `npm sbom` (CycloneDX) of the lockfile, kept to what the production
 * dependencies reach (the image installs exactly that: `npm ci`, then `npm prune --omit=dev`).
 * Not `npm sbom --omit dev`: npm 11.19 leaves out `yaml`, a direct production dependency that a dev dependency
 * (vite) also names as an optional peer. The dependency graph of the full SBOM says what production reaches.
 * npm names the root component after the checkout's directory: it gets the package's name.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.js';

interface Bom {
  metadata: { component: { name: string; 'bom-ref': string } };
  components: { 'bom-ref': string; name: string }[];
  dependencies?: { ref: string; dependsOn?: string[] }[];
}

/** The components reachable from the root's production dependencies, through the SBOM's own dependency graph. */
export function productionOnly(bom: Bom, production: string[]): Bom {
  const edges = new Map((bom.dependencies ?? []).map((d) => [d.ref, d.dependsOn ?? []]));
  const byRef = new Map(bom.components.map((c) => [c['bom-ref'], c]));
  const wanted = new Set(production);
  const rootEdges = (edges.get(bom.metadata.component['bom-ref']) ?? []).filter((ref) => wanted.has(byRef.get(ref)?.name ?? ''));
  const missing = production.filter((name) => !rootEdges.some((ref) => byRef.get(ref)?.name === name));
  if (missing.length > 0) throw new Error(`npm sbom does not list the production dependencies ${missing.join(', ')}: is package-lock.json up to date (npm install)?`);
  const reached = new Set<string>();
  const queue = [...rootEdges];
  for (let ref = queue.pop(); ref !== undefined; ref = queue.pop()) {
    if (reached.has(ref)) continue;
    reached.add(ref);
    queue.push(...(edges.get(ref) ?? []));
  }
  return {
    ...bom,
    components: bom.components.filter((c) => reached.has(c['bom-ref'])),
    dependencies: (bom.dependencies ?? [])
      .filter((d) => reached.has(d.ref) || d.ref === bom.metadata.component['bom-ref'])
      .map((d) => (d.ref === bom.metadata.component['bom-ref'] ? { ...d, dependsOn: rootEdges } : d)),
  };
}

export async function writeSbom(root: string, file: string): Promise<number> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
  const out = await run('npm', ['sbom', '--sbom-format', 'cyclonedx', '--sbom-type', 'application', '--package-lock-only'], { cwd: root });
  const bom = productionOnly(JSON.parse(out) as Bom, Object.keys(pkg.dependencies ?? {}));
  bom.metadata.component.name = pkg.name;
  writeFileSync(file, `${JSON.stringify(bom, null, 2)}\n`);
  return bom.components.length;
}
