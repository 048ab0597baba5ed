/**
 * Fingerprints and IAM etags are `bytes` on Google's side: a client may send them back in another base64 spelling
 * (gcloud's apitools re-encodes them URL-safe; ProtoJSON accepts standard or URL-safe, padded or not), so the sandbox
 * compares the bytes they encode, and refuses a value that is not base64 at all with 400.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { IamPolicy, Json } from '../../src/sandbox/store.js';
import { PROJECT, ZONE, http, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
const instances = () => `${s.url}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances`;
const instanceUrl = (name: string) => `${instances()}/${name}`;
const resourceOf = (name: string) => s.sandbox.store.project(PROJECT).instances[`${ZONE}/${name}`]!.resource;

/** 8 bytes whose standard base64 has both + and /, and their other spellings. */
const BYTES = Buffer.from([0xfb, 0xff, 0xbf, 0, 1, 2, 3, 4]);
const STANDARD = BYTES.toString('base64');
const URL_SAFE = STANDARD.replace(/\+/g, '-').replace(/\//g, '_');
const SPELLINGS: [string, string][] = [
  ['URL-safe (as gcloud sends it)', URL_SAFE],
  ['standard, unpadded', STANDARD.replace(/=+$/, '')],
  ['URL-safe, unpadded', URL_SAFE.replace(/=+$/, '')],
];
const OTHER_BYTES = Buffer.from([0xfb, 0xff, 0xbf, 0, 1, 2, 3, 5]).toString('base64');
const NOT_BASE64 = ['not base64!', 'AAEC*wQ=', 'A'];

beforeAll(async () => {
  expect(STANDARD).toBe('+/+/AAECAwQ=');
  expect((await http(instances(), { method: 'POST', json: { name: 'vm-bytes' } })).status).toBe(200);
});

describe('Compute fingerprints compared as the bytes they encode', () => {
  const setMetadata = (fingerprint: unknown) => http(`${instanceUrl('vm-bytes')}/setMetadata`, { method: 'POST', json: { fingerprint, items: [{ key: 'k', value: 'v' }] } });
  const setLabels = (labelFingerprint: unknown) => http(`${instanceUrl('vm-bytes')}/setLabels`, { method: 'POST', json: { labelFingerprint, labels: { a: 'b' } } });
  const forceFingerprints = (value: string) => {
    (resourceOf('vm-bytes').metadata as Json).fingerprint = value;
    resourceOf('vm-bytes').labelFingerprint = value;
  };

  it('issues fingerprints as Compute spells them: 8 bytes, URL-safe base64 with padding', async () => {
    // 16 random fingerprints: the odds that none has a + or / in standard base64 are under 1 in 200.
    const names = Array.from({ length: 8 }, (_, i) => `vm-issued-${i}`);
    for (const name of names) expect((await http(instances(), { method: 'POST', json: { name } })).status).toBe(200);
    const fingerprints = names.flatMap((name) => [(resourceOf(name).metadata as Json).fingerprint, resourceOf(name).labelFingerprint]);
    for (const fingerprint of fingerprints) expect(fingerprint).toMatch(/^[A-Za-z0-9_-]{11}=$/);
  });

  it.each(SPELLINGS)('takes setMetadata and setLabels with a fingerprint spelled %s', async (_, spelling) => {
    forceFingerprints(STANDARD);
    expect((await setMetadata(spelling)).status).toBe(200);
    expect((await setLabels(spelling)).status).toBe(200);
    expect(resourceOf('vm-bytes').labels).toEqual({ a: 'b' });
  });

  it('takes the standard spelling of a fingerprint it issued URL-safe', async () => {
    forceFingerprints(URL_SAFE);
    expect((await setMetadata(STANDARD)).status).toBe(200);
    expect((await setLabels(STANDARD)).status).toBe(200);
  });

  it('refuses other bytes with 412 conditionNotMet, in Compute\'s words', async () => {
    forceFingerprints(STANDARD);
    const metadata = await setMetadata(OTHER_BYTES);
    expect(metadata.status).toBe(412);
    expect(metadata.body.error).toMatchObject({ message: 'Supplied fingerprint does not match current metadata fingerprint.', errors: [{ reason: 'conditionNotMet' }] });
    const labels = await setLabels(OTHER_BYTES);
    expect(labels.status).toBe(412);
    expect(labels.body.error).toMatchObject({ message: 'Labels fingerprint either invalid or resource labels have changed', errors: [{ reason: 'conditionNotMet' }] });
  });

  it.each(NOT_BASE64)('refuses %j, which is not base64, with 400 invalid (not a stale 412)', async (garbage) => {
    forceFingerprints(STANDARD);
    for (const answer of [await setMetadata(garbage), await setLabels(garbage)]) {
      expect(answer.status).toBe(400);
      expect(answer.body.error.errors[0].reason).toBe('invalid');
      expect(answer.body.error.message).toContain(garbage);
    }
    expect((resourceOf('vm-bytes').metadata as Json).fingerprint).toBe(STANDARD);
  });
});

describe('IAM policy etags compared as the bytes they encode, in every setIamPolicy', () => {
  const SA = `etag-bytes@${PROJECT}.iam.gserviceaccount.com`;
  const apis: { name: string; url: () => string; get: 'GET' | 'POST'; set: 'PUT' | 'POST'; wrap: boolean; policy: () => IamPolicy; stale: number }[] = [
    { name: 'Resource Manager v3', url: () => `${s.url}/v3/projects/${PROJECT}`, get: 'POST', set: 'POST', wrap: true, policy: () => s.sandbox.store.project(PROJECT).policy, stale: 409 },
    { name: 'IAM (service account)', url: () => `${s.url}/v1/projects/${PROJECT}/serviceAccounts/${SA}`, get: 'POST', set: 'POST', wrap: true, policy: () => s.sandbox.store.project(PROJECT).serviceAccounts!['etag-bytes']!.policy, stale: 409 },
    { name: 'Secret Manager', url: () => `${s.url}/v1/projects/${PROJECT}/secrets/etag-bytes`, get: 'GET', set: 'POST', wrap: true, policy: () => s.sandbox.store.project(PROJECT).secrets['etag-bytes']!.policy, stale: 409 },
    { name: 'Cloud Storage', url: () => `${s.url}/storage/v1/b/jme-etag-bytes`, get: 'GET', set: 'PUT', wrap: false, policy: () => s.sandbox.store.data.buckets['jme-etag-bytes']!.policy, stale: 412 },
  ];

  beforeAll(async () => {
    expect((await http(`${s.url}/v1/projects/${PROJECT}/serviceAccounts`, { method: 'POST', json: { accountId: 'etag-bytes' } })).status).toBe(200);
    expect((await http(`${s.url}/v1/projects/${PROJECT}/secrets?secretId=etag-bytes`, { method: 'POST', json: { replication: { automatic: {} } } })).status).toBe(200);
    expect((await http(`${s.url}/storage/v1/b?project=${PROJECT}`, { method: 'POST', json: { name: 'jme-etag-bytes' } })).status).toBe(200);
  });

  describe.each(apis)('$name', (api) => {
    const getPolicy = async () => (await http(api.get === 'GET' ? `${api.url()}${api.wrap ? ':getIamPolicy' : '/iam'}` : `${api.url()}:getIamPolicy`, { method: api.get })).body as { etag: string; bindings: unknown[] };
    const setPolicy = (etag: string) => {
      const policy = { etag, bindings: [{ role: 'roles/viewer', members: ['user:etag@example.com'] }] };
      return http(api.wrap ? `${api.url()}:setIamPolicy` : `${api.url()}/iam`, { method: api.set, json: api.wrap ? { policy } : policy });
    };

    it('takes the etag back URL-safe and unpadded', async () => {
      api.policy().serial = 8191; // its etag is "CP8/": 0x08 then the varint 8191
      const { etag } = await getPolicy();
      expect(etag).toBe('CP8/');
      expect((await setPolicy('CP8_')).status).toBe(200);
      api.policy().serial = 1;
      expect((await getPolicy()).etag).toBe('CAE=');
      expect((await setPolicy('CAE')).status).toBe(200);
      expect(api.policy().bindings).toEqual([{ role: 'roles/viewer', members: ['user:etag@example.com'] }]);
    });

    it('refuses other bytes as stale, and a value that is not base64 with 400', async () => {
      api.policy().serial = 1;
      expect((await setPolicy('CAI=')).status).toBe(api.stale);
      const garbage = await setPolicy('not base64!');
      expect(garbage.status).toBe(400);
      expect(garbage.body.error.message).toContain('Base64 decoding failed for "not base64!"');
      expect(api.policy().serial).toBe(1);
    });
  });
});
