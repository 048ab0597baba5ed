/**
 * The tests' real kube-apiserver and etcd (test/kube, test infrastructure).
 *   tsx scripts/kube-assets.ts build   build them now if the cache lacks them (the tests do it themselves
 *                                      in their beforeAll; this only moves the ~15 min first build earlier)
 *                                      and print the directory holding them (usable as KUBEBUILDER_ASSETS)
 *   tsx scripts/kube-assets.ts gomod   regenerate test/kube/{apiserver,etcd}/go.mod and go.sum after a
 *                                      change of KUBE_VERSION / ETCD_VERSION in test/kube/assets.ts (the
 *                                      replace list is derived from kubernetes' own go.mod)
 */
import { ensureKubeAssets, writeGoModules } from '../test/kube/assets.js';

const command = process.argv[2];
if (command === 'build') {
  const assets = await ensureKubeAssets();
  process.stdout.write(`${assets.dir}\n`);
} else if (command === 'gomod') {
  await writeGoModules();
} else {
  process.stderr.write('usage: tsx scripts/kube-assets.ts build|gomod\n');
  process.exit(2);
}
