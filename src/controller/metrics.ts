/** The controller's Prometheus metrics (prom-client), on its own registry, with prom-client's process and Node metrics. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallMeta } from '../gcp/gcp-error.js';
import type { ReconcileReport } from '../engine/reconcile.js';
import type { EnvironmentStatus } from './inventory.js';
import { isDrift } from './status.js';

const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;

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
  readonly leader = new Gauge({ name: 'jobmatch_leader', help: '1 when this replica reconciles: it holds the leader Lease, or (--shards N) owns at least one shard.', registers: [this.registry] });
  /** Registered only with --shards N > 1. */
  private shardGauges: { owned: Gauge; owner: Gauge } | undefined;
  readonly driftEvents = new Counter({
    name: 'jobmatch_drift_events_total', help: 'Audit-log messages received, by outcome (matched, own, unknown, duplicate, malformed).', labelNames: ['outcome'], registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'jobmatch_refused_total', help: 'Environments refused before any GCP call, by reason (PolicyViolation, ProjectNotAllowed, EnvironmentNotAllowed, AdoptionNotAllowed), counted once per refusal.', labelNames: ['reason'], registers: [this.registry],
  });
  /** Registered only once drift events are on: absent, rather than 0, when they are not configured. */
  private driftEventsGauge: Gauge | undefined;
  private readonly environmentCondition = new Gauge({
    name: 'jobmatch_environment_condition',
    help: "Each environment's conditions: 1 for the status it has (True, False or Unknown), 0 for the other two (as External Secrets' externalsecret_status_condition).",
    labelNames: ['namespace', 'name', 'condition', 'status'], registers: [this.registry],
  });
  private readonly parity = new Gauge({
    name: 'jobmatch_parity_differences',
    help: 'Unexpected shape differences between an environment and its spec.parity.reference (0: same shape); absent without a reference found.',
    labelNames: ['namespace', 'name'], registers: [this.registry],
  });
  /** The condition types shown per object key, so a reconcile replaces exactly its own series. */
  private readonly shown = new Map<string, string[]>();

  constructor({ processMetrics = true }: { processMetrics?: boolean } = {}) {
    if (processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Sharding: how many shards this replica owns, and 1/0 per shard; jobmatch_leader is 1 while it owns any. */
  shardsOwned(shards: number, owned: readonly number[]): void {
    this.shardGauges ??= {
      owned: new Gauge({ name: 'jobmatch_shards_owned', help: 'Shards this replica owns (--shards N).', registers: [this.registry] }),
      owner: new Gauge({ name: 'jobmatch_shard_owner', help: '1 for each shard this replica owns, 0 for the others.', labelNames: ['shard'], registers: [this.registry] }),
    };
    this.shardGauges.owned.set(owned.length);
    const mine = new Set(owned);
    for (let shard = 0; shard < shards; shard++) this.shardGauges.owner.set({ shard: String(shard) }, mine.has(shard) ? 1 : 0);
    this.leader.set(owned.length > 0 ? 1 : 0);
  }

  /** 1 while drift events flow from the subscription, 0 while they do not. */
  driftEventsUp(up: boolean): void {
    this.driftEventsGauge ??= new Gauge({ name: 'jobmatch_drift_events_up', help: '1 while drift events flow from the subscription.', registers: [this.registry] });
    this.driftEventsGauge.set(up ? 1 : 0);
  }

  /** One object's condition series, replaced after its reconcile; none once it is gone (status undefined). */
  environmentConditions(key: string, status: EnvironmentStatus | undefined): void {
    const slash = key.indexOf('/');
    const where = { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
    for (const condition of this.shown.get(key) ?? []) {
      for (const value of CONDITION_STATUSES) this.environmentCondition.remove({ ...where, condition, status: value });
    }
    const conditions = status?.conditions ?? [];
    for (const c of conditions) {
      for (const value of CONDITION_STATUSES) this.environmentCondition.set({ ...where, condition: c.type, status: value }, c.status === value ? 1 : 0);
    }
    if (conditions.length > 0) this.shown.set(key, conditions.map((c) => c.type));
    else this.shown.delete(key);
  }

  /** One object's parity gauge: the unexpected differences from its reference, removed when there is none to compare with. */
  parityDifferences(key: string, differences: number | undefined): void {
    const slash = key.indexOf('/');
    const where = { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
    if (differences === undefined) this.parity.remove(where);
    else this.parity.set(where, differences);
  }

  reconciled(result: 'ok' | 'error', seconds: number): void {
    this.reconcileTotal.inc({ result });
    this.reconcileDuration.observe(seconds);
  }

  /**
   * Counts the resources GCP moved away from an unchanged spec: only when the status says DriftDetected (a create
   * or an edit that follows a new spec is not drift, so a cold create counts nothing).
   */
  observedDrift(report: ReconcileReport, driftDetected: boolean): void {
    if (!driftDetected) return;
    for (const a of report.plan.actions) if (isDrift(a)) this.driftTotal.inc({ kind: a.kind });
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
