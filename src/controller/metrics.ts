/** The controller's Prometheus metrics (prom-client), on its own registry. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallMeta } from '../gcp/gcp-error.js';
import type { ReconcileReport } from '../engine/reconcile.js';
import type { EnvironmentStatus } from './inventory.js';
import { isDrift } from './status.js';

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly reconcileTotal = new Counter({ name: 'jobmatch_reconcile_total', help: 'Reconciles by result.', labelNames: ['result'], registers: [this.registry] });
  private readonly reconcileDuration = new Histogram({
    name: 'jobmatch_reconcile_duration_seconds', help: 'Reconcile duration.', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry],
  });
  private readonly driftTotal = new Counter({ name: 'jobmatch_drift_detected_total', help: 'Resources found drifted, by kind.', labelNames: ['kind'], registers: [this.registry] });
  private readonly gcpRequests = new Counter({ name: 'jobmatch_gcp_requests_total', help: 'GCP requests by API, method and HTTP code (0: no answer).', labelNames: ['api', 'method', 'code'], registers: [this.registry] });
  private readonly environments = new Gauge({ name: 'jobmatch_environments', help: 'Environments by condition and status.', labelNames: ['condition', 'status'], registers: [this.registry] });
  readonly workqueueDepth = new Gauge({ name: 'jobmatch_workqueue_depth', help: 'Keys waiting or being reconciled.', registers: [this.registry] });
  readonly leader = new Gauge({ name: 'jobmatch_leader', help: '1 when this replica holds the leader Lease.', registers: [this.registry] });
  readonly driftEvents = new Counter({
    name: 'jobmatch_drift_events_total', help: 'Audit-log messages received, by outcome (matched, own, unknown, duplicate, malformed).', labelNames: ['outcome'], registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'jobmatch_refused_total', help: 'Environments refused before any GCP call, by reason (PolicyViolation, ProjectNotAllowed, EnvironmentNotAllowed), counted once per refusal.', labelNames: ['reason'], registers: [this.registry],
  });
  readonly driftEventsUp = new Gauge({ name: 'jobmatch_drift_events_up', help: '1 while drift events flow from the subscription.', registers: [this.registry] });

  reconciled(result: 'ok' | 'error', seconds: number): void {
    this.reconcileTotal.inc({ result });
    this.reconcileDuration.observe(seconds);
  }

  observedDrift(report: ReconcileReport): void {
    for (const a of report.plan.actions) {
      const drifted = a.kind === 'Deployment' ? isDrift(a) : a.verb === 'update' || (a.verb === 'create' && a.kind === 'IAMBinding');
      if (drifted) this.driftTotal.inc({ kind: a.kind });
    }
  }

  gcpResponse(meta: CallMeta, code: number): void {
    this.gcpRequests.inc({ api: meta.api, method: meta.operation, code: String(code) });
  }

  /** Recounts environments by condition from every status known. */
  countEnvironments(statuses: (EnvironmentStatus | undefined)[]): void {
    this.environments.reset();
    for (const status of statuses) for (const c of status?.conditions ?? []) this.environments.inc({ condition: c.type, status: c.status });
  }
}
