/**
 * `run` with no cluster configuration at all (no --kubeconfig, no KUBECONFIG, no ~/.kube/config, not in a pod): one line
 * that says so and names the ways to give one, exit 1 (it used to retry every second, for ever, on "HTTP protocol is
 * not allowed when skipTLSVerify is not set"). Runs the bundle (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/jobmatch-operator.js', import.meta.url).pathname;

describe('run without any cluster configuration', () => {
  it.each([
    ['with GCP', ['--gcp-endpoint', 'http://127.0.0.1:9']],
    ['before looking for GCP credentials', []],
  ])('says no cluster configuration was found, on one line, and exits 1 (%s)', (_, extra) => {
    const home = mkdtempSync(join(tmpdir(), 'no-cluster-'));
    // An empty HOME, and none of KUBECONFIG, KUBERNETES_SERVICE_HOST, GOOGLE_APPLICATION_CREDENTIALS.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
    const started = Date.now();
    const r = spawnSync(process.execPath, [BIN, 'run', '--listen', '127.0.0.1:0', ...extra], { encoding: 'utf8', env, timeout: 20_000 });
    expect(r.stderr).not.toMatch(/skipTLSVerify/);
    expect(r.stdout).not.toMatch(/restarting/);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: no Kubernetes cluster configuration found/);
    for (const named of ['--kubeconfig', 'KUBECONFIG', '~/.kube/config', 'in-cluster service account', '--manifests DIR']) expect(lines[0]).toContain(named);
    expect(r.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
