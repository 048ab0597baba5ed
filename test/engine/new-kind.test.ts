/**
 * Adding a kind is a folder and a registry line: a kind the engine has never seen (here a toy
 * Deployment kind over an in-memory store) is observed, planned, applied and re-planned on conflict
 * by the generic engine, with no change to it.
 */
import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/api/manifests.js';
import { silentLogger } from '../../src/engine/action-log.js';
import { reconcileEnvironment } from '../../src/engine/reconcile.js';
import { createGcpClients } from '../../src/gcp/clients.js';
import { GcpCaller } from '../../src/gcp/gcp-caller.js';
import type { Kind, KindClient } from '../../src/kinds/kind.js';
import { KINDS } from '../../src/kinds/registry.js';
import { desiredLabels } from '../../src/plan/desired.js';
import type { DesiredResource } from '../../src/plan/kind-planner.js';
import type { Observation } from '../../src/plan/observed.js';
import { labelChanges } from '../../src/plan/ownership.js';
import { FAST_RETRY } from '../support/engine.js';
import { exampleText } from '../support/manifests.js';
import { useSandbox } from '../support/sandbox.js';

interface Desired extends DesiredResource { zone: string }
interface Observed extends Observation { zone: string }
type ToyStep = { kind: 'Deployment'; op: 'put'; name: string; zone: string; labels: Record<string, string>; expect: string };

/** A toy store with versions, so preconditions hold as they do in GCP. */
function toyKind(store: Map<string, Observed>, log: string[], race: { armed: boolean }): Kind<Desired, Observed, ToyStep> {
  const client: KindClient<Observed, ToyStep> = {
    observe: async (name) => {
      log.push(`observe ${name}`);
      return store.get(name);
    },
    execute: async (step) => {
      if (race.armed) {
        race.armed = false; // someone else writes between our plan and our write
        store.set(step.name, { ...store.get(step.name)!, version: '99' });
      }
      if ((store.get(step.name)?.version ?? '') !== step.expect) throw new (await import('../../src/kinds/conflict-outcome.js')).ConflictOutcome('moved');
      log.push(`${step.op} ${step.name}`);
      store.set(step.name, { zone: step.zone, labels: step.labels, version: String(Number(step.expect || 0) + 1) });
    },
    listLabelled: async (env) => [...store.entries()].filter(([, o]) => o.labels['jobmatch-environment'] === env)
      .map(([name, o]) => ({ kind: 'Deployment' as const, name, labels: o.labels, version: o.version })),
    readPolicy: async () => undefined,
    commitPolicy: async () => undefined,
  };
  return {
    kind: 'Deployment',
    iamPrefix: 'deployment',
    desired: (spec) => (spec.vm ? [{ name: spec.vm.name, zone: spec.vm.zone, labels: desiredLabels(spec, {}, 'Delete') }] : []),
    nameFor: (_spec, name) => name,
    diff: (d, o) => {
      const base = { id: `Deployment/${d.name}`, kind: 'Deployment' as const, name: d.name };
      const changes = [...(o?.zone === d.zone ? [] : [{ field: 'zone', before: o?.zone ?? null, after: d.zone }]), ...labelChanges(o?.labels ?? {}, d.labels)];
      if (changes.length === 0) return { ...base, verb: 'none', changes, steps: [] };
      return { ...base, verb: o ? 'update' : 'create', changes, steps: [{ kind: 'Deployment', op: 'put', name: d.name, zone: d.zone, labels: d.labels, expect: o?.version ?? '' }] };
    },
    deleteStep: (r) => ({ kind: 'Deployment', op: 'delete', name: r.name }),
    releaseStep: (r) => ({ kind: 'Deployment', op: 'release', name: r.name }),
    connect: () => client,
  };
}

const s = useSandbox();

describe('a kind the engine has never seen', () => {
  it('is observed, planned, applied and kept in sync through the generic engine', async () => {
    const store = new Map<string, Observed>();
    const log: string[] = [];
    const race = { armed: false };
    const kinds = [...KINDS.filter((k) => k.kind !== 'Deployment'), toyKind(store, log, race)] as unknown as readonly Kind[];
    const env = loadManifests([{ file: 's', text: exampleText('staging') }]).environments[0]!;
    const ctx = { caller: new GcpCaller({ retry: FAST_RETRY }), clientsFor: (p: string) => createGcpClients({ projectId: p, endpoint: s.url }), logger: silentLogger(), kinds };
    const plan = await reconcileEnvironment(env, 'plan', ctx);
    expect(plan.plan.actions.find((a) => a.kind === 'Deployment')).toMatchObject({ verb: 'create', name: 'jobmatch-staging-vm' });
    const apply = await reconcileEnvironment(env, 'apply', ctx);
    expect(apply.results!['Deployment/jobmatch-staging-vm']).toMatchObject({ outcome: 'ok' });
    expect(apply.after!.actions.find((a) => a.kind === 'Deployment')!.verb).toBe('none');
    expect(log.filter((l) => l.startsWith('put'))).toEqual(['put jobmatch-staging-vm']);
    // drift, and someone else writes between our plan and our write: the executor re-reads and re-plans it, generically
    store.get('jobmatch-staging-vm')!.zone = 'us-east1-b';
    race.armed = true;
    log.length = 0;
    const heal = await reconcileEnvironment(env, 'apply', ctx);
    expect(heal.results!['Deployment/jobmatch-staging-vm']).toMatchObject({ outcome: 'ok' });
    expect(log).toEqual(['observe jobmatch-staging-vm', 'observe jobmatch-staging-vm', 'put jobmatch-staging-vm', 'observe jobmatch-staging-vm']);
    expect(store.get('jobmatch-staging-vm')!.zone).toBe('europe-west1-b');
  });
});
