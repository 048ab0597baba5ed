/**
 * Every reason of the Ready condition (and a rollout the agent failed) mapped to Reconciling and Stalled, and what
 * kstatus (Flux) and Argo CD (docs/argocd-health.lua) make of the status: the table of docs/api.md#status, checked
 * by their own code (test/gitops-check). The controller's real objects are judged in kstatus.test.ts.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../src/api/types.js';
import { invalidStatus, progressConditions, STALLED_REASONS, type ConditionValue } from '../../src/controller/status.js';
import { ARGOCD_HEALTH_LUA, ensureGitOpsCheck, gitOpsVerdicts } from '../support/gitops-check.js';

const NOW = '2026-12-04T00:00:00.000Z';

beforeAll(async () => {
  await ensureGitOpsCheck();
}, 10 * 60_000);

// Ready's reason (and status), Deployed's reason, then Reconciling, Stalled, kstatus, Argo CD.
const TABLE = [
  ['Ready', 'True', 'Deployed', 'False', 'False', 'Current', 'Healthy'],
  ['Progressing', 'False', 'Progressing', 'True', 'False', 'InProgress', 'Progressing'],
  ['SecretsMissing', 'False', 'SecretsMissing', 'True', 'False', 'InProgress', 'Progressing'],
  ['Waiting', 'False', 'RollingOut', 'True', 'False', 'InProgress', 'Progressing'],
  ['Waiting', 'False', 'VMNotRunning', 'True', 'False', 'InProgress', 'Progressing'],
  ['ReconcileError', 'False', 'RolloutTimeout', 'True', 'False', 'InProgress', 'Progressing'],
  ['ReconcileError', 'False', 'NotManaged', 'True', 'False', 'InProgress', 'Progressing'],
  ['ReconcileError', 'False', 'RolloutFailed', 'False', 'True', 'Failed', 'Degraded'],
  ['Conflict', 'False', 'VMNotFound', 'False', 'True', 'Failed', 'Degraded'],
  ['DriftReported', 'False', 'DriftReported', 'False', 'True', 'Failed', 'Degraded'],
  ['Paused', 'False', 'Paused', 'False', 'False', 'InProgress', 'Suspended'],
  ['Suspended', 'Unknown', 'Suspended', 'False', 'False', 'InProgress', 'Suspended'],
] as const;

function object(conditions: Condition[], { paused = false, suspend = false } = {}): object {
  return {
    apiVersion: 'jobmatch.io/v1alpha1', kind: 'JobMatchEnvironment',
    metadata: { name: 'e', namespace: 'n', generation: 3, ...(paused ? { annotations: { 'jobmatch.io/paused': 'true' } } : {}) },
    spec: { environment: 'e', gcp: { projectId: 'job-match-v0', location: 'EU' }, policy: { suspend } },
    status: { observedGeneration: 3, conditions },
  };
}

const asConditions = (values: Record<string, ConditionValue>): Condition[] =>
  Object.entries(values).map(([type, v]) => ({ type, ...v, lastTransitionTime: NOW, observedGeneration: 3 }) as Condition);

describe('Reconciling and Stalled from the Ready condition', () => {
  it.each(TABLE)('Ready %s (%s), Deployed %s: Reconciling %s, Stalled %s; kstatus %s, Argo CD %s', async (why, ready, deployed, reconciling, stalled, kstatus, argocd) => {
    const r: ConditionValue = { status: ready, reason: why, message: `because ${why}` };
    const progress = progressConditions(r, { status: deployed === 'Deployed' ? 'True' : 'False', reason: deployed, message: `agent says ${deployed}` });
    expect(progress.Reconciling.status).toBe(reconciling);
    expect(progress.Stalled.status).toBe(stalled);
    expect(progress.Reconciling.status === 'True' && progress.Stalled.status === 'True').toBe(false);
    const [v] = await gitOpsVerdicts([object(asConditions({ Ready: r, ...progress }), { paused: why === 'Paused', suspend: why === 'Suspended' })]);
    expect(v!.kstatus.status, JSON.stringify(v)).toBe(kstatus);
    expect(v!.argocd.status, JSON.stringify(v)).toBe(argocd);
  });

  it('says the agent\'s words in Stalled for a failed rollout', () => {
    const progress = progressConditions({ status: 'False', reason: 'ReconcileError', message: 'some reads or writes failed' }, { status: 'False', reason: 'RolloutFailed', message: 'health check failed: rolled back to abc' });
    expect(progress.Stalled).toMatchObject({ status: 'True', reason: 'RolloutFailed' });
    expect(progress.Stalled.message).toMatch(/^the VM agent failed the rollout: health check failed: rolled back to abc; a new config/);
  });

  it.each(['InvalidSpec', 'Conflict', 'CleanupBlocked', 'PolicyViolation', 'ProjectNotAllowed', 'EnvironmentNotAllowed', 'AdoptionNotAllowed'] as const)(
    'an object the controller cannot reconcile (%s) is Stalled, kstatus Failed, Argo CD Degraded', async (why) => {
      expect(STALLED_REASONS).toContain(why);
      const status = invalidStatus(undefined, 3, why, ['first problem', 'second problem'], NOW);
      const find = (type: string) => status.conditions!.find((c) => c.type === type);
      expect(find('Stalled')).toMatchObject({ status: 'True', reason: why, message: 'first problem\nsecond problem', observedGeneration: 3 });
      expect(find('Reconciling')).toMatchObject({ status: 'False', reason: why, observedGeneration: 3 });
      expect(find('Ready')).toMatchObject({ status: 'False', reason: why });
      const [v] = await gitOpsVerdicts([object(status.conditions!)]);
      expect(v).toMatchObject({ kstatus: { status: 'Failed', message: 'first problem\nsecond problem' }, argocd: { status: 'Degraded', message: `${why}: first problem\nsecond problem` } });
    });

  it('a status one generation behind is InProgress and Progressing whatever its conditions say', async () => {
    const ready = object(asConditions({ Ready: { status: 'True', reason: 'Ready', message: 'ok' }, ...progressConditions({ status: 'True', reason: 'Ready', message: 'ok' }) })) as any;
    ready.metadata.generation = 4;
    const [v] = await gitOpsVerdicts([ready]);
    expect(v).toMatchObject({ kstatus: { status: 'InProgress' }, argocd: { status: 'Progressing', message: 'Waiting for the operator to reconcile generation 4' } });
  });
});

describe('docs/gitops.md', () => {
  it('shows in its argocd-cm snippet exactly the script that is tested', () => {
    const doc = readFileSync(new URL('../../docs/gitops.md', import.meta.url), 'utf8');
    const block = /```yaml\n(kind: ConfigMap[\s\S]*?|apiVersion: v1\nkind: ConfigMap[\s\S]*?)```/.exec(doc)?.[1];
    const cm = parse(block ?? '') as { data?: Record<string, string> };
    expect(cm.data?.['resource.customizations.health.jobmatch.io_JobMatchEnvironment']).toBe(readFileSync(ARGOCD_HEALTH_LUA, 'utf8'));
  });
});
