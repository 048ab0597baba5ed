/**
 * The real gcloud against the sandbox's Compute API. gcloud decodes every `bytes` field it reads (metadata.fingerprint)
 * and sends it back URL-safe encoded, so a fingerprint spelled with + or / must still match.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/sandbox/store.js';
import { gcloudAgainst, type Gcloud } from '../support/gcloud.js';
import { PROJECT, ZONE, http, useSandbox } from '../support/sandbox.js';

const s = useSandbox();
let gcloud: Gcloud;
/** 8 bytes whose standard base64 is "+/+/AAECAwQ=": gcloud sends them back as "-_-_AAECAwQ=". */
const PLUS_SLASH = Buffer.from([0xfb, 0xff, 0xbf, 0, 1, 2, 3, 4]).toString('base64');

const metadataOf = (name: string) => s.sandbox.store.project(PROJECT).instances[`${ZONE}/${name}`]!.resource.metadata as Json;
const itemsOf = (name: string) => Object.fromEntries((metadataOf(name).items as { key: string; value: string }[]).map((i) => [i.key, i.value]));

beforeAll(async () => {
  gcloud = gcloudAgainst(s.url, PROJECT);
  for (const name of ['vm-plus-slash', 'vm-fresh', 'vm-from-file']) {
    const created = await http(`${s.url}/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances`, { method: 'POST', json: { name, metadata: { items: [{ key: 'keep', value: 'me' }] } } });
    expect(created.status).toBe(200);
  }
  // Deterministically the failing case: a fingerprint whose standard spelling has + and / (as a state file of an older sandbox holds).
  metadataOf('vm-plus-slash').fingerprint = PLUS_SLASH;
  metadataOf('vm-from-file').fingerprint = PLUS_SLASH;
});

describe('gcloud compute instances add-metadata against the sandbox', () => {
  it('adds metadata whatever the fingerprint\'s spelling: one with + and /, and a fresh one', async () => {
    for (const name of ['vm-plus-slash', 'vm-fresh']) {
      const run = await gcloud('compute', 'instances', 'add-metadata', name, `--zone=${ZONE}`, `--metadata=jobmatch-config-hash=sha256:${name}`);
      expect(run.stderr).not.toMatch(/ERROR|fingerprint/);
      expect(run.code).toBe(0);
      expect(itemsOf(name)).toEqual({ keep: 'me', 'jobmatch-config-hash': `sha256:${name}` });
    }
    expect(s.sandbox.stats.snapshot().byApi.compute).toMatchObject({ 'instances.setMetadata': 2 });
  });

  it('adds metadata from a file (--metadata-from-file), and describe shows it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'jme-gcloud-meta-')), 'startup.sh');
    writeFileSync(file, '#!/bin/sh\necho "a+b/c"\n');
    const run = await gcloud('compute', 'instances', 'add-metadata', 'vm-from-file', `--zone=${ZONE}`, `--metadata-from-file=startup-script=${file}`);
    expect(run.stderr).not.toMatch(/ERROR|fingerprint/);
    expect(run.code).toBe(0);
    const described = await gcloud('compute', 'instances', 'describe', 'vm-from-file', `--zone=${ZONE}`, '--format=json');
    expect(described.code).toBe(0);
    const metadata = (JSON.parse(described.stdout) as { metadata: { items: { key: string; value: string }[] } }).metadata;
    expect(Object.fromEntries(metadata.items.map((i) => [i.key, i.value]))).toEqual({ keep: 'me', 'startup-script': '#!/bin/sh\necho "a+b/c"\n' });
  });
});
