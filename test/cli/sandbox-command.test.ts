import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/jobmatch-operator.js', import.meta.url));

describe('jobmatch-operator sandbox', () => {
  it('runs standalone with a seed and fault settings, serves the APIs, and stops on SIGTERM', async () => {
    const seed = join(mkdtempSync(join(tmpdir(), 'jme-seed-')), 'seed.yaml');
    writeFileSync(seed, 'projects:\n  - projectId: job-match-v0\n    buckets: [{name: cli-seeded-bucket, location: EU}]\n');
    const child = spawn(process.execPath, [bin, 'sandbox', '--port', '0', '--seed', seed, '--fault-rate', '0', '--fault-apis', 'storage,bigquery'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const url = /listening on (http:\/\/\S+)/.exec(line)![1]!;
    const bucket = (await (await fetch(`${url}/storage/v1/b/cli-seeded-bucket`)).json()) as { location: string };
    expect(bucket.location).toBe('EU');
    const config = (await (await fetch(`${url}/__sandbox/config`)).json()) as { faultApis: string[] };
    expect(config.faultApis).toEqual(['storage', 'bigquery']);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  });

  it('refuses bad options with exit 1 and a message naming the flag', () => {
    const run = spawnSync(process.execPath, [bin, 'sandbox', '--port', '0', '--fault-rate', '2'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--fault-rate must be a number from 0 to 1/);
    const apis = spawnSync(process.execPath, [bin, 'sandbox', '--port', '0', '--fault-apis', 'dns'], { encoding: 'utf8' });
    expect(apis.status).toBe(1);
    expect(apis.stderr).toMatch(/faultApis must list some of/);
    const seed = join(mkdtempSync(join(tmpdir(), 'jme-seed-')), 'bad.yaml');
    writeFileSync(seed, 'projects:\n  - projectId: p1\n    buckets: [{name: Not_Valid}]\n');
    const badSeed = spawnSync(process.execPath, [bin, 'sandbox', '--port', '0', '--seed', seed], { encoding: 'utf8' });
    expect(badSeed.status).toBe(1);
    expect(badSeed.stderr).toMatch(/cannot start the sandbox: seed: bucket Not_Valid: Invalid bucket name/);
  });
});
