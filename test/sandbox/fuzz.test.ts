/** Random paths, methods, headers and bodies: the sandbox answers every one, never with an internal error, and keeps serving. */
import { describe, expect, it } from 'vitest';
import { PROJECT, ZONE, http, useSandbox } from '../support/sandbox.js';

const s = useSandbox({ seed: { projects: [{ projectId: PROJECT, instances: [{ name: 'fuzz-vm', zone: ZONE, metadata: { 'enable-guest-attributes': 'TRUE' } }] }] } });

function rng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PREFIXES = [
  '/storage/v1/b', '/storage/v1/b/fuzz-bucket', '/storage/v1/b/fuzz-bucket/iam', '/storage/v1/b/fuzz-bucket/o', '/upload/storage/v1/b/fuzz-bucket/o',
  `/bigquery/v2/projects/${PROJECT}/datasets`, `/bigquery/v2/projects/${PROJECT}/datasets/fuzz_ds`,
  `/v1/projects/${PROJECT}/secrets`, `/v1/projects/${PROJECT}/secrets/fuzz-s`, `/v1/projects/${PROJECT}/secrets/fuzz-s:addVersion`,
  `/v1/projects/${PROJECT}/secrets/fuzz-s/versions/latest:access`, `/v1/projects/${PROJECT}/secrets/fuzz-s:setIamPolicy`,
  `/v3/projects/${PROJECT}:setIamPolicy`, `/v1/projects/${PROJECT}:getIamPolicy`,
  `/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances`, `/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances/fuzz-vm/setMetadata`,
  `/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances/fuzz-vm/getGuestAttributes`, `/compute/v1/projects/${PROJECT}/zones/${ZONE}/operations/x/wait`,
  `/__metadata/${PROJECT}/${ZONE}/fuzz-vm/computeMetadata/v1/instance/attributes/`, `/__metadata/${PROJECT}/${ZONE}/fuzz-vm/computeMetadata/v1/instance/guest-attributes/a/b`,
  '/__sandbox/config', '/__sandbox/seed', '/', '/%', '/storage/v1/b/%E0%A4%A', '/v1/projects/%3A%3A:x',
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const QUERIES = ['', '?project=' + PROJECT, '?secretId=fuzz-s', '?updateMask=labels', '?uploadType=multipart', '?uploadType=media&name=o',
  '?maxResults=-1&pageToken=%%%', '?wait_for_change=true&timeout_sec=0&last_etag=x', '?filter=labels.(', '?variableKey=a/b', '?queryPath=a/'];

function randomValue(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return r() > 0.5;
    case 2: return Math.floor(r() * 1e12) * (r() > 0.5 ? -1 : 1);
    case 3: return 'x'.repeat(Math.floor(r() * 40));
    case 4: return ['fuzz-bucket', 'fuzz_ds', 'fuzz-s', 'roles/viewer', 'user:a@b.c', 'ENABLED', 'CAE=', '', '🙂', '../..'][Math.floor(r() * 10)];
    case 5: return 1e308 * 10;
    case 6: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const keys = ['name', 'labels', 'bindings', 'policy', 'payload', 'data', 'items', 'fingerprint', 'etag', 'datasetReference', 'datasetId', 'replication', 'access', 'members', 'role', 'location', 'key', 'value', 'faultRate', 'projects'];
      return Object.fromEntries(Array.from({ length: Math.floor(r() * 5) }, () => [keys[Math.floor(r() * keys.length)]!, randomValue(r, depth + 1)]));
    }
  }
}

function randomBody(r: () => number): string | undefined {
  const kind = Math.floor(r() * 5);
  if (kind === 0) return undefined;
  if (kind === 1) return Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256))).toString('latin1');
  if (kind === 2) return '{"name":'.repeat(Math.floor(r() * 3) + 1);
  return JSON.stringify(randomValue(r));
}

describe('the sandbox under fuzzing', () => {
  it('answers 1,500 random requests without a 5xx and keeps serving', async () => {
    const r = rng(20261125);
    const internal: string[] = [];
    const statuses = new Set<number>();
    for (let batch = 0; batch < 75; batch++) {
      await Promise.all(Array.from({ length: 20 }, async () => {
        const path = PREFIXES[Math.floor(r() * PREFIXES.length)]! + (r() < 0.2 ? `/${Math.floor(r() * 99)}` : '') + QUERIES[Math.floor(r() * QUERIES.length)]!;
        const method = METHODS[Math.floor(r() * METHODS.length)]!;
        const body = method === 'GET' || method === 'HEAD' ? undefined : randomBody(r);
        const headers: Record<string, string> = { 'content-type': r() > 0.3 ? 'application/json' : 'multipart/related; boundary=zz' };
        if (r() > 0.5) headers['metadata-flavor'] = 'Google';
        const res = await fetch(`${s.url}${path}`, { method, body, headers });
        await res.arrayBuffer();
        statuses.add(res.status);
        if (res.status >= 500 || res.status < 200) internal.push(`${method} ${path} ${body ?? ''} → ${res.status}`);
      }));
    }
    expect(internal).toEqual([]);
    // the requests reached the handlers, not only the router
    expect([...statuses]).toEqual(expect.arrayContaining([200, 400, 404, 405]));
    expect((await http(`${s.url}/__sandbox/health`)).body).toEqual({ ok: true });
    await http(`${s.url}/__sandbox/config`, { method: 'PUT', json: { faultRate: 0, timeoutRate: 0, latencyMs: 0 } });
  }, 60_000);
});
