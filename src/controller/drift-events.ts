/**
 * Drift in seconds: a streaming-pull subscriber of Admin Activity audit-log entries (routed by a Log Router
 * sink to Pub/Sub, see `drift-events setup`). Each entry is mapped to the environments owning its resource
 * and their keys are enqueued within a second (a burst coalesced into one reconcile); the
 * operator's own writes, resources no environment declares, duplicates and malformed messages are acked and
 * counted, never crash the loop. A matched message is acked only once its environments are enqueued (after the window): a
 * controller that stops within it leaves the message to be delivered again. With sharding every replica owning a
 * shard subscribes; a message naming only environments of shards it does not own is nacked (delivered again, in the
 * end to their owner), one naming any of its own is handled and acked as above.
 * A probe of the subscription says whether events flow: when they cannot, DriftEvents is False and the
 * periodic resync keeps the environments safe; when they can again, the subscriber is reopened.
 */
import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import type { ActionLogger } from '../engine/action-log.js';
import { AuditIndex, type AuditEntry, type IndexedEnvironment } from './audit-index.js';

export type DriftEventOutcome = 'matched' | 'own' | 'unknown' | 'duplicate' | 'malformed' | 'not-owned';

export interface DriftEventsHealth {
  up: boolean;
  reason: string;
  message: string;
}

export interface DriftEventsOptions {
  pubsub: PubSub;
  /** projects/P/subscriptions/S */
  subscription: string;
  /** Every environment the controller holds, with its spec and inventory. */
  environments: () => readonly IndexedEnvironment[];
  enqueue: (keys: string[]) => void;
  /**
   * Sharding: whether an environment is this replica's. A message naming only other replicas' environments is nacked,
   * so Pub/Sub delivers it again, to another subscriber and in the end to the owner.
   */
  owns?: (key: string) => boolean;
  /** How long a message for another replica is held before it is nacked (default 250 ms), so no shard left without an owner makes a hot loop. */
  nackDelayMs?: number;
  /** The operator's own writes: they cost no reconcile. */
  isOwnWrite: (entry: AuditEntry) => boolean;
  logger: ActionLogger;
  onOutcome?: (outcome: DriftEventOutcome, count: number) => void;
  /** Called when events start or stop flowing. */
  onHealth?: (health: DriftEventsHealth) => void;
  /** How often the subscription is probed (default 10 s); a probe longer than half of it counts as failed. */
  probeMs?: number;
  /**
   * Environments named by events are enqueued this long after the first event (default 1 s): a burst (a
   * script, a console session) becomes one reconcile instead of one per event.
   */
  coalesceMs?: number;
}

/** The operator's own writes: its instance token in the User-Agent audit logs record, or one of its principals. */
export function ownWrites(instance: string, principals: string[]): (entry: AuditEntry) => boolean {
  return (entry) => {
    const p = entry.protoPayload;
    return (p?.requestMetadata?.callerSuppliedUserAgent ?? '').includes(instance) || principals.includes(p?.authenticationInfo?.principalEmail ?? '');
  };
}

const SEEN_LIMIT = 10_000;
const INDEX_TTL_MS = 250;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why events cannot flow, from the error Pub/Sub gave (gRPC codes). */
function healthOf(error: unknown): DriftEventsHealth {
  const e = error as { code?: number; details?: string; message?: string };
  const message = (e.details || e.message || String(error)).slice(0, 1000);
  if (e.code === 7) return { up: false, reason: 'PermissionDenied', message: `${message}: grant the operator roles/pubsub.subscriber on the subscription` };
  if (e.code === 5) return { up: false, reason: 'SubscriptionNotFound', message: `${message}: create it with jobmatch-operator drift-events setup` };
  return { up: false, reason: 'SubscriberDown', message };
}

export class DriftEventSource {
  private subscription: Subscription | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private health: DriftEventsHealth = { up: false, reason: 'Starting', message: 'connecting to the subscription' };
  private readonly seen = new Set<string>();
  private index: { built: number; value: AuditIndex } | undefined;
  private malformedLogged = 0;
  private readonly due = new Set<string>();
  private readonly unacked: Message[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly nacking = new Map<NodeJS.Timeout, Message>();

  constructor(private readonly options: DriftEventsOptions) {}

  get state(): DriftEventsHealth {
    return this.health;
  }

  /** No environment waiting for its coalescing window to pass. */
  get settled(): boolean {
    return this.flushTimer === undefined;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.open();
    await this.probe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.probeTimer);
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.due.clear();
    this.unacked.length = 0; // never acked: redelivered to the next subscriber
    for (const [timer, message] of this.nacking) {
      clearTimeout(timer);
      message.nack();
    }
    this.nacking.clear();
    await this.close();
  }

  /** Enqueued once the coalescing window of the first of them has passed; the messages are acked after that. */
  private schedule(keys: string[], message: Message): void {
    for (const key of keys) this.due.add(key);
    this.unacked.push(message);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const keys = [...this.due];
      const messages = this.unacked.splice(0);
      this.due.clear();
      this.options.enqueue(keys);
      for (const m of messages) m.ack();
    }, this.options.coalesceMs ?? 1000);
  }

  private open(): void {
    const subscription = this.options.pubsub.subscription(this.options.subscription, { flowControl: { maxMessages: 1000, allowExcessMessages: false } });
    subscription.on('message', (m: Message) => this.receive(m));
    subscription.on('error', (e: unknown) => {
      this.options.logger.warn({ event: 'drift-events', error: (e as Error).message }, 'the drift-event subscriber stopped');
      this.setHealth(healthOf(e));
      void this.close(); // reopened by the next probe that succeeds
    });
    this.subscription = subscription;
  }

  private async close(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    subscription?.removeAllListeners('message');
    await subscription?.close().catch(() => undefined);
  }

  private setHealth(health: DriftEventsHealth): void {
    const changed = health.up !== this.health.up || health.reason !== this.health.reason;
    this.health = health;
    if (!changed) return;
    this.options.logger[health.up ? 'info' : 'warn']({ event: 'drift-events', up: health.up, reason: health.reason, detail: health.message }, health.up ? 'drift events flowing' : 'drift events not flowing');
    this.options.onHealth?.(health);
  }

  /** Reads the subscription; on success after a failure, reopens the subscriber so messages flow again. */
  private async probe(): Promise<void> {
    const every = this.options.probeMs ?? 10_000;
    try {
      const probe = this.options.pubsub.subscription(this.options.subscription).getMetadata({ timeout: Math.max(100, every / 2) });
      await probe;
      if (!this.health.up || !this.subscription) {
        await this.close();
        if (!this.stopped) this.open();
      }
      this.setHealth({ up: true, reason: 'Receiving', message: `subscribed to ${this.options.subscription}` });
    } catch (e) {
      this.setHealth(healthOf(e));
    }
    if (!this.stopped) this.probeTimer = setTimeout(() => void this.probe(), every);
  }

  private currentIndex(): AuditIndex {
    const now = performance.now();
    if (!this.index || now - this.index.built > INDEX_TTL_MS) this.index = { built: now, value: new AuditIndex(this.options.environments()) };
    return this.index.value;
  }

  private count(outcome: DriftEventOutcome, n = 1): void {
    this.options.onOutcome?.(outcome, n);
  }

  private receive(message: Message): void {
    let entry: AuditEntry;
    try {
      const parsed: unknown = JSON.parse(message.data.toString('utf8'));
      if (!isObject(parsed) || !isObject(parsed.protoPayload)) throw new Error('not an audit LogEntry (no protoPayload)');
      entry = parsed as AuditEntry;
    } catch (e) {
      this.count('malformed');
      if (this.malformedLogged++ < 10) this.options.logger.warn({ event: 'drift-events', messageId: message.id, error: (e as Error).message }, 'malformed drift-event message acked and dropped');
      message.ack();
      return;
    }
    const id = entry.insertId;
    if (id !== undefined && this.seen.has(id)) {
      this.count('duplicate');
      message.ack();
      return;
    }
    if (this.options.isOwnWrite(entry)) {
      this.remember(id);
      this.count('own');
      message.ack();
      return;
    }
    const matched = this.currentIndex().environmentsOf(entry);
    const keys = this.options.owns ? matched.filter(this.options.owns) : matched;
    if (matched.length === 0) {
      this.remember(id);
      this.count('unknown');
      message.ack();
      return;
    }
    if (keys.length === 0) {
      // Another replica's: not remembered, so a redelivery here is nacked again rather than dropped as a duplicate.
      this.count('not-owned');
      const timer = setTimeout(() => {
        this.nacking.delete(timer);
        message.nack();
      }, this.options.nackDelayMs ?? 250);
      this.nacking.set(timer, message);
      return;
    }
    this.remember(id);
    this.schedule(keys, message);
    this.count('matched');
    this.options.logger.debug({ event: 'drift-event', environments: keys, service: entry.protoPayload?.serviceName, method: entry.protoPayload?.methodName, resource: entry.protoPayload?.resourceName }, 'a change made elsewhere: reconcile now');
  }

  private remember(id: string | undefined): void {
    if (id === undefined) return;
    this.seen.add(id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
  }
}
