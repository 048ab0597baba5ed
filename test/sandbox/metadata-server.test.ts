import { describe, expect, it } from 'vitest';
import { PROJECT, ZONE, http, useSandbox } from '../support/sandbox.js';

const SA = 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com';
const s = useSandbox({
  seed: {
    projects: [{
      projectId: PROJECT,
      projectNumber: '123456789012',
      instances: [
        { name: 'vm-meta', zone: ZONE, serviceAccount: SA, metadata: { 'jobmatch-config-hash': 'sha256:a', 'enable-guest-attributes': 'TRUE' } },
        { name: 'vm-closed', zone: ZONE },
      ],
      secrets: [
        { secretId: 'granted', versions: [{ data: 'v1' }], iamPolicy: { bindings: [{ role: 'roles/secretmanager.secretAccessor', members: [`serviceAccount:${SA}`] }] } },
        { secretId: 'other', versions: [{ data: 'v1' }] },
      ],
    }],
  },
}, { compute: true });
const flavor = { 'metadata-flavor': 'Google' };
const base = (vm = 'vm-meta') => `${s.sandbox.metadataUrl(PROJECT, ZONE, vm)}/computeMetadata/v1`;

async function setHash(value: string) {
  const [inst] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: 'vm-meta' });
  const items = inst.metadata!.items!.filter((i) => i.key !== 'jobmatch-config-hash').map((i) => ({ key: i.key!, value: i.value! }));
  await s.compute.instances.setMetadata({ project: PROJECT, zone: ZONE, instance: 'vm-meta', metadataResource: { fingerprint: inst.metadata!.fingerprint, items: [...items, { key: 'jobmatch-config-hash', value }] } });
}

describe('the per-instance metadata server', () => {
  it("mints the instance's service account token, which reads only the secrets it was granted (none for a VM without an account)", async () => {
    const token = (await http(`${base()}/instance/service-accounts/default/token`, { headers: flavor })).body as { access_token: string; expires_in: number };
    expect(token.expires_in).toBeGreaterThan(3000);
    const access = (id: string, auth = `Bearer ${token.access_token}`) =>
      http(`${s.url}/v1/projects/${PROJECT}/secrets/${id}/versions/latest:access`, { headers: { authorization: auth } });
    const granted = await access('granted');
    expect(granted.status).toBe(200);
    expect(Buffer.from((granted.body as { payload: { data: string } }).payload.data, 'base64').toString()).toBe('v1');
    const refused = await access('other');
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/Permission 'secretmanager.versions.access' denied for resource 'projects\/\d+\/secrets\/other'/);
    expect((await access('other', 'Bearer operator')).status).toBe(200); // the operator's own calls
    expect((await http(`${base('vm-closed')}/instance/service-accounts/default/token`, { headers: flavor })).status).toBe(404);
  });

  it('requires Metadata-Flavor: Google and refuses forwarded requests', async () => {
    expect((await http(`${base()}/instance/name`)).status).toBe(403);
    expect((await http(`${base()}/instance/name`, { headers: { ...flavor, 'x-forwarded-for': '1.2.3.4' } })).status).toBe(403);
  });

  it('answers the instance and project facts an agent needs, with Metadata-Flavor on the answer', async () => {
    const name = await http(`${base()}/instance/name`, { headers: flavor });
    expect(name.text).toBe('vm-meta');
    expect(name.headers.get('metadata-flavor')).toBe('Google');
    expect((await http(`${base()}/project/project-id`, { headers: flavor })).text).toBe(PROJECT);
    expect((await http(`${base()}/instance/zone`, { headers: flavor })).text).toBe(`projects/123456789012/zones/${ZONE}`);
    expect((await http(`${base()}/instance/service-accounts/default/email`, { headers: flavor })).text).toBe(SA);
    expect((await http(`${base()}/instance/service-accounts/default/token`, { headers: flavor })).body).toMatchObject({ token_type: 'Bearer' });
  });

  it('serves attributes one by one with an ETag, all at once as JSON, and 404 for a missing one', async () => {
    const one = await http(`${base()}/instance/attributes/jobmatch-config-hash`, { headers: flavor });
    expect(one.text).toBe('sha256:a');
    expect(one.headers.get('etag')).toMatch(/^[0-9a-f]{16}$/);
    const all = await http(`${base()}/instance/attributes/?recursive=true`, { headers: flavor });
    expect(all.body).toEqual({ 'jobmatch-config-hash': 'sha256:a', 'enable-guest-attributes': 'TRUE' });
    expect((await http(`${base()}/instance/attributes/nope`, { headers: flavor })).status).toBe(404);
  });

  it('wakes a wait_for_change long poll when setMetadata changes the value', async () => {
    const first = await http(`${base()}/instance/attributes/jobmatch-config-hash`, { headers: flavor });
    const event = `metadata:${PROJECT}/${ZONE}/vm-meta`;
    const listening = new Promise<void>((resolve) => {
      const onListener = (name: string) => {
        if (name !== event) return;
        s.sandbox.store.events.off('newListener', onListener);
        resolve();
      };
      s.sandbox.store.events.on('newListener', onListener);
    });
    const waiting = http(`${base()}/instance/attributes/jobmatch-config-hash?wait_for_change=true&last_etag=${first.headers.get('etag')}`, { headers: flavor });
    await listening; // the poll is parked in the sandbox before anything changes
    await setHash('sha256:a'); // a write that leaves the value as it was must not wake the poll
    await setHash('sha256:b');
    const answer = await waiting;
    expect(answer.text).toBe('sha256:b'); // had the first write woken it, it would say sha256:a
    expect(answer.headers.get('etag')).not.toBe(first.headers.get('etag'));
  });

  it('answers at once when last_etag is already stale, and after timeout_sec when nothing changes', async () => {
    const stale = await http(`${base()}/instance/attributes/jobmatch-config-hash?wait_for_change=true&last_etag=0000000000000000`, { headers: flavor });
    expect(stale.status).toBe(200);
    const current = await http(`${base()}/instance/attributes/jobmatch-config-hash`, { headers: flavor });
    const started = performance.now();
    const timedOut = await http(`${base()}/instance/attributes/jobmatch-config-hash?wait_for_change=true&timeout_sec=1&last_etag=${current.headers.get('etag')}`, { headers: flavor });
    const waited = performance.now() - started;
    expect(timedOut.text).toBe(current.text);
    expect(waited).toBeGreaterThanOrEqual(1000 - 5); // it held the poll for timeout_sec (5 ms for timer rounding)
    expect(waited).toBeLessThan(10_000); // and then answered, rather than waiting the default hour
  });

  it('stores guest attributes only when enable-guest-attributes is TRUE', async () => {
    const put = (vm: string) => http(`${base(vm)}/instance/guest-attributes/jobmatch/applied-hash`, { method: 'PUT', body: 'sha256:b', headers: flavor });
    expect((await put('vm-meta')).status).toBe(200);
    expect((await http(`${base()}/instance/guest-attributes/jobmatch/applied-hash`, { headers: flavor })).text).toBe('sha256:b');
    expect((await put('vm-closed')).status).toBe(403);
    const stats = s.sandbox.stats.snapshot().byApi.metadata!;
    expect(stats).toMatchObject({ 'guestAttributes.put': 2, 'guestAttributes.get': 1 });
  });
});
