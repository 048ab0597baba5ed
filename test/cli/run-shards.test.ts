/**
 * `run --shards N` refusals: a shard count that is not 1..1024, shards without Leases (--no-leader-election) or without
 * a cluster (--manifests), and Lease timings that would let a holder outlive its Lease. Each says which flag and the
 * fix, exits 1 before anything starts, and makes zero GCP calls.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/server.js';
import { cli } from '../support/cli.js';
import { mutated, NO_VM } from '../support/manifests.js';

let sandbox: Sandbox;
let dir: string;
let kubeconfig: string;

beforeAll(async () => {
  sandbox = await startSandbox();
  dir = mkdtempSync(join(tmpdir(), 'jme-run-shards-'));
  writeFileSync(join(dir, 'staging.yaml'), mutated(() => undefined, 'staging', NO_VM));
  // A kubeconfig naming a server nothing listens on: a refusal must come before any connection.
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`);
});

afterAll(async () => {
  await sandbox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('run --shards', () => {
  it.each([
    [['--shards', '0'], /--shards must be a whole number from 1 to 1024, got "0"/],
    [['--shards', '1025'], /--shards must be a whole number from 1 to 1024, got "1025"/],
    [['--shards', '2.5'], /--shards must be a whole number from 1 to 1024, got "2\.5"/],
    [['--shards', 'four'], /--shards must be a whole number from 1 to 1024, got "four"/],
    [['--shards', '4', '--no-leader-election'], /--shards 4 decides which replica owns which shard through Leases, and --no-leader-election turns Leases off: drop --no-leader-election \(or use --shards 1 for a single replica\)/],
    [['--lease-duration', '5', '--lease-renew-deadline', '5'], /--lease-renew-deadline \(5 s\) must be shorter than --lease-duration \(5 s\)/],
    [['--lease-retry-period', '10'], /--lease-retry-period \(10 s\) must be shorter than --lease-renew-deadline \(10 s\)/],
    [['--lease-duration', '-1'], /--lease-duration must be a number of seconds greater than 0, got "-1"/],
  ])('in a cluster, refuses %j naming the flag and the fix, with zero GCP calls', async (flags, message) => {
    const run = await cli(['run', '--kubeconfig', kubeconfig, '--gcp-endpoint', sandbox.url, '--listen', '127.0.0.1:0', ...flags]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(sandbox.stats.snapshot().total).toBe(0);
  });

  it('refuses --shards above 1 with --manifests (one process watches a directory), with zero GCP calls', async () => {
    const run = await cli(['run', '--manifests', dir, '--shards', '3', '--gcp-endpoint', sandbox.url, '--listen', '127.0.0.1:0']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/--shards 3 shares a cluster's environments between replicas through Leases; with --manifests one process watches a directory: drop --shards \(or --manifests, to run against a cluster\)/);
    expect(sandbox.stats.snapshot().total).toBe(0);
  });
});
