/**
 * A configuration someone else wrote on the VM, which the VM agent refused (not signed by the operator): the
 * controller says RolloutFailed in an Event with the agent's words and writes the declared configuration back,
 * through the reconciler (the same code as in a cluster) over an in-memory object store, against the sandbox.
 */
import { describe, expect, it } from 'vitest';
import { configHash } from '../../src/api/env-file.js';
import { loadManifests } from '../../src/api/manifests.js';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { createActionLogger } from '../../src/engine/action-log.js';
import { PolicyWriter } from '../../src/engine/policy-writer.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import { FAST_RETRY } from '../support/engine.js';
import { exampleText } from '../support/manifests.js';
import { MemoryStore } from '../support/memory-store.js';
import { PROJECT, ZONE, useSandbox } from '../support/sandbox.js';

const VM = 'jobmatch-staging-vm';
const FORGED = `sha256:${'f'.repeat(64)}`;
const SAID = 'the signature did not match: jobmatch-config-signature is not the HMAC of jobmatch-config-hash and jobmatch-config-serial with the deploy key jobmatch-staging-deploy-key';
const s = useSandbox({
  seed: {
    projects: [{
      projectId: PROJECT, projectNumber: '123456789012',
      instances: [{ name: VM, zone: ZONE, serviceAccount: `${VM}@${PROJECT}.iam.gserviceaccount.com`, metadata: { 'enable-guest-attributes': 'TRUE', 'jobmatch-config-hash': FORGED } }],
    }],
  },
}, { compute: true });

describe('a configuration the VM agent refused, which the operator did not write', () => {
  it('is a RolloutFailed Event with the agent\'s words, once, and the declared configuration is written back', async () => {
    const text = exampleText('staging');
    const declared = configHash(loadManifests([{ file: 's', text }]).environments[0]!.spec);
    const guest = `${s.sandbox.metadataUrl(PROJECT, ZONE, VM)}/computeMetadata/v1/instance/guest-attributes/jobmatch`;
    for (const [key, value] of [['applied-hash', declared], ['attempted-hash', FORGED], ['status', 'failed'], ['message', SAID]]) {
      expect((await fetch(`${guest}/${key}`, { method: 'PUT', body: value, headers: { 'metadata-flavor': 'Google' } })).status).toBe(200);
    }
    const store = new MemoryStore();
    const logger = createActionLogger({ write: () => true } as unknown as NodeJS.WritableStream, 'silent');
    const clients = createGcpClients({ projectId: PROJECT, endpoint: s.url });
    const controller = new Controller({ store, logger, metrics: new ControllerMetrics(), concurrency: 1, engine: { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: () => clients, logger, execute: { policyWriter: new PolicyWriter() } } });
    const key = store.put(text);
    for (let pass = 0; pass < 3; pass++) {
      controller.enqueue([key]);
      await controller.queue.idle();
    }
    const refused = store.events.filter((e) => e.key === key && e.reason === 'RolloutFailed');
    expect(refused).toEqual([{ key, type: 'Warning', reason: 'RolloutFailed', message: expect.stringContaining(`the VM agent refused ${FORGED}, which the operator did not write: ${SAID}`) }]);
    const [instance] = await s.compute.instances.get({ project: PROJECT, zone: ZONE, instance: VM });
    const metadata = Object.fromEntries((instance.metadata?.items ?? []).map((i) => [i.key, i.value]));
    expect(metadata['jobmatch-config-hash']).toBe(declared);
    expect(metadata['jobmatch-config-signature']).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(store.statusOf(key)?.conditions?.find((c) => c.type === 'Deployed')).toMatchObject({ status: 'True', reason: 'Deployed' });
  });
});
