/**
 * Bundles the CLI (src/cli/main.ts and everything it imports, node_modules included) into dist/bundle/ with
 * esbuild, for bin/jobmatch-operator.js: a handful of files to read and compile instead of 600-odd modules to resolve.
 * ESM with code splitting, so every `import()` stays lazy: each command, and what only it uses, is a chunk
 * loaded when the command runs. dist/bundle/ sits at the same depth as dist/cli/, so the `../../package.json`
 * and `../../manifests/` paths the CLI computes from import.meta.url still resolve.
 * `npm run build` runs it after tsc.
 */
import { build } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
rmSync(outdir, { recursive: true, force: true });

/** Every installed copy of every package: name@version → the roots of its copies, sorted. */
function installedPackages(dir = join(root, 'node_modules'), found = new Map()) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith('@')) {
      installedPackages(path, found);
      continue;
    }
    try {
      const { name, version } = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
      if (name && version) found.set(`${name}@${version}`, [...(found.get(`${name}@${version}`) ?? []), path].sort());
    } catch {
      // not a package
    }
    if (existsSync(join(path, 'node_modules'))) installedPackages(join(path, 'node_modules'), found);
  }
  return found;
}

/**
 * npm keeps several copies of one version of a package when the top-level slot is taken by another version
 * (gaxios 7.3.1 three times, node-fetch 3.3.2 four times, beside gaxios 6 and node-fetch 2). Each copy would be
 * bundled, compiled and initialised apart: every file of such a package resolves to one copy (the first by path).
 */
const dedupePackages = {
  name: 'dedupe-packages',
  setup(b) {
    const copies = installedPackages();
    const rootOf = (file) => /^(.*[\\/]node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(file)?.[1];
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.deduped) return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { deduped: true } });
      const root = resolved.errors.length === 0 && !resolved.external ? rootOf(resolved.path) : undefined;
      if (!root) return undefined; // esbuild's own resolution then (and its errors, or warnings inside a try)
      const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
      const [canonical = root] = copies.get(`${name}@${version}`) ?? [];
      return { ...resolved, path: canonical + resolved.path.slice(root.length) };
    });
  },
};

/**
 * gaxios 7 and teeny-request load node-fetch with import() at their first request: in a bundle, a chunk read
 * from disk then. The event loop turns while it loads, Storage's first requests (which need no set-up) leave,
 * and BigQuery's and Secret Manager's follow 30–90 ms later: an in-sync plan's requests spanned 1.7 L instead
 * of 1.1 L. Bundled in, every client's first-use set-up runs in one go and the whole first wave leaves together.
 */
const nodeFetchInline = {
  name: 'node-fetch-inline',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/](gaxios|teeny-request)[\\/].*\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes("import('node-fetch')")) return undefined;
      return { contents: text.replaceAll("import('node-fetch')", "Promise.resolve(require('node-fetch'))"), loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * src/api/document-validator.ts compiles the CRD's schema with ajv when imported (70–200 ms of every run); the
 * bundle holds instead the same validator compiled now, by the module's own compileDocumentValidator(), as ajv
 * standalone code. ajv itself is then not in the bundle. Anything else the bundle would import from that module
 * fails the build ("No matching export").
 */
async function precompiledValidatorSource() {
  // Inside the project, so that the module's imports resolve from its node_modules.
  mkdirSync(join(root, 'dist'), { recursive: true });
  const scratch = mkdtempSync(join(root, 'dist', '.validator-'));
  try {
    const file = join(scratch, 'document-validator.mjs');
    await build({ absWorkingDir: root, entryPoints: ['src/api/document-validator.ts'], outfile: file, bundle: true, packages: 'external', format: 'esm', platform: 'node', logLevel: 'warning' });
    const { compileDocumentValidator, isDateTime } = await import(pathToFileURL(file).href);
    const { _Code } = await import('ajv/dist/compile/codegen/code.js');
    const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
    const formats = new _Code(`{"date-time": {type: "string", validate: ${isDateTime.toString()}}}`);
    const { ajv, validate } = compileDocumentValidator({ source: true, esm: true, lines: true, formats });
    return `${standaloneCode(ajv, validate)}\nexport { validate as validateDocument };\n`;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const precompiledValidator = {
  name: 'precompiled-document-validator',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]api[\\/]document-validator\.ts$/ }, async () =>
      ({ contents: await precompiledValidatorSource(), loader: 'js', resolveDir: root }));
  },
};

/**
 * @google-cloud/compute's clients parse its whole protos.json (11.7 MB: compute v1, v1beta and v1small) when
 * constructed, 420 ms of every CLI run that observes a VM. The bundle gets a protos.json with only the v1
 * methods the operator calls (src/gcp/compute-methods.ts) and the types they reach: 75 KB, parsed in 17 ms.
 */
const computeProtos = {
  name: 'compute-protos',
  setup(b) {
    b.onLoad({ filter: /[\\/]@google-cloud[\\/]compute[\\/]build[\\/]protos[\\/]protos\.json$/ }, async (args) => {
      const { COMPUTE_METHODS } = await import(pathToFileURL(join(root, 'dist/gcp/compute-methods.js')).href);
      const full = JSON.parse(readFileSync(args.path, 'utf8'));
      const require = createRequire(args.path);
      const { protobuf } = require('google-gax');
      const all = protobuf.Root.fromJSON(full);
      all.resolveAll();
      const reached = new Set();
      const reach = (t) => {
        if (!t || reached.has(t.fullName)) return;
        reached.add(t.fullName);
        if (t instanceof protobuf.Type) for (const x of [...t.fieldsArray.map((f) => f.resolvedType), ...t.nestedArray]) reach(x);
      };
      for (const [service, methods] of Object.entries(COMPUTE_METHODS)) {
        for (const name of methods) {
          const method = all.lookupService(`google.cloud.compute.v1.${service}`).methods[name];
          reach(method.resolvedRequestType);
          reach(method.resolvedResponseType);
        }
      }
      const compute = full.nested.google.nested.cloud.nested.compute.nested;
      for (const version of Object.keys(compute)) if (version !== 'v1') delete compute[version];
      const v1 = compute.v1.nested;
      for (const [name, entry] of Object.entries(v1)) {
        const methods = COMPUTE_METHODS[name];
        if (methods) for (const m of Object.keys(entry.methods)) { if (!methods.includes(m)) delete entry.methods[m]; }
        else if (!reached.has(`.google.cloud.compute.v1.${name}`)) delete v1[name];
      }
      return { contents: JSON.stringify(full), loader: 'json' };
    });
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  sourcesContent: false,
  // Google's CommonJS packages call require() (also for Node's built-ins) and read __dirname: give the bundle both.
  banner: {
    js: [
      "import { createRequire as __bundleRequire } from 'node:module';",
      "import { fileURLToPath as __bundlePath } from 'node:url';",
      'const require = __bundleRequire(import.meta.url);',
      'const __filename = __bundlePath(import.meta.url);',
      "const __dirname = __bundlePath(new URL('.', import.meta.url));",
    ].join('\n'),
  },
  plugins: [precompiledValidator, dedupePackages, nodeFetchInline, computeProtos],
  logLevel: 'warning',
  metafile: true,
});

if (process.argv.includes('--analyze')) {
  const { analyzeMetafile } = await import('esbuild');
  console.log(await analyzeMetafile(result.metafile));
}
