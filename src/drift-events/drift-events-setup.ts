/**
 * `drift-events setup`: what carries Admin Activity audit entries to the controller, made idempotently. Each step
 * reads first and writes only what differs, so a second run writes nothing:
 *
 *   topic T ◄── Log Router sink (filter: audit-filter.ts, unique writer identity, roles/pubsub.publisher on T)
 *      └── pull subscription S (ack deadline, retention, never expires) ──► dead-letter topic T-dead-letter
 *
 * With `dryRun` the same reads are made and nothing is written: the report says what would be done, each step with
 * its equivalent gcloud command. Pub/Sub emulators implement no IAM: there the grants are reported as skipped.
 */
import type { Logging } from '@google-cloud/logging';
import type { PubSub } from '@google-cloud/pubsub';
import { driftEventsFilter, type DeclaredNames } from './audit-filter.js';

export const DEFAULT_TOPIC = 'jobmatch-drift-events';
export const DEFAULT_SUBSCRIPTION = 'jobmatch-operator';
export const DEFAULT_SINK = 'jobmatch-drift-events';
export const DEAD_LETTER_SUFFIX = '-dead-letter';

/** The subscription's settings: long enough to reconcile before redelivery, a day of backlog, dead letter after 5 tries. */
export const SUBSCRIPTION_SETTINGS = {
  ackDeadlineSeconds: 30,
  retentionSeconds: 86_400,
  maxDeliveryAttempts: 5,
  minimumBackoffSeconds: 10,
  maximumBackoffSeconds: 600,
} as const;

const PUBLISHER = 'roles/pubsub.publisher';
const SUBSCRIBER = 'roles/pubsub.subscriber';
/** Pub/Sub's and gRPC's status codes the set-up tells apart. */
const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

export interface DriftEventsSetupOptions {
  /** The project id. */
  project: string;
  topic?: string;
  subscription?: string;
  sink?: string;
  /** Bucket and instance names from manifests that the jobmatch- prefix may not cover. */
  declared?: DeclaredNames;
  dryRun?: boolean;
  /** Per-call deadline in ms (default 30 s). */
  callTimeoutMs?: number;
}

export interface DriftEventsSetupClients {
  pubsub: PubSub;
  logging: Logging;
  /** Set when Pub/Sub is an emulator: IAM is then not implemented, and grants are skipped. */
  pubsubEmulator?: string;
  /** The project's number, for the Pub/Sub service agent the dead-letter grants name. */
  projectNumber: () => Promise<string>;
}

export type SetupAction = 'create' | 'update' | 'grant' | 'none' | 'skip';

export interface SetupStep {
  kind: 'topic' | 'dead-letter-topic' | 'subscription' | 'sink' | 'grant';
  /** The resource's full name (a grant: the resource it is on). */
  name: string;
  action: SetupAction;
  /** What it is for, or (an update) what changes, for a person. */
  detail: string;
  /** For a grant: the role and member. */
  role?: string;
  member?: string;
  /** The equivalent gcloud commands (only for steps that change something). */
  gcloud: string[];
}

export interface DriftEventsSetupReport {
  project: string;
  dryRun: boolean;
  topic: string;
  deadLetterTopic: string;
  subscription: string;
  sink: string;
  filter: string;
  /** The sink's writer identity; undefined in a dry run that would create the sink. */
  writerIdentity?: string;
  steps: SetupStep[];
  /** Whether anything was (or, in a dry run, would be) written. */
  changed: boolean;
}

/** A failure with a message a person can act on, for the CLI to print in one line. */
export class DriftEventsSetupError extends Error {}

const quoteWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
/** A shell word, a flag's value quoted after its "=" (`--log-filter='…'`) as a person would write it. */
const shellQuote = (s: string) => {
  const flag = /^(--[\w-]+=)([\s\S]*)$/.exec(s);
  return flag ? `${flag[1]}${quoteWord(flag[2]!)}` : quoteWord(s);
};
const gcloud = (...args: string[]) => `gcloud ${args.map(shellQuote).join(' ')}`;
const codeOf = (e: unknown) => (e as { code?: unknown })?.code;

interface TopicState { exists: boolean }
interface SubscriptionState {
  topic?: string;
  ackDeadlineSeconds?: number;
  retentionSeconds?: number;
  deadLetterTopic?: string;
  maxDeliveryAttempts?: number;
  expires: boolean;
  minimumBackoffSeconds?: number;
  maximumBackoffSeconds?: number;
}

const seconds = (d: unknown): number | undefined => {
  if (typeof d !== 'object' || d === null) return undefined;
  const s = (d as { seconds?: unknown }).seconds;
  return s === undefined || s === null ? undefined : Number(s);
};

/** Creates or checks the topic, subscription, sink and grants that carry drift events; see the module comment. */
export async function setupDriftEvents(clients: DriftEventsSetupClients, options: DriftEventsSetupOptions): Promise<DriftEventsSetupReport> {
  const { project } = options;
  const dryRun = options.dryRun === true;
  const gaxOpts = { timeout: options.callTimeoutMs ?? 30_000 };
  const topicId = options.topic ?? DEFAULT_TOPIC;
  const deadLetterId = `${topicId}${DEAD_LETTER_SUFFIX}`;
  const subscriptionId = options.subscription ?? DEFAULT_SUBSCRIPTION;
  const sinkId = options.sink ?? DEFAULT_SINK;
  const topicName = `projects/${project}/topics/${topicId}`;
  const deadLetterName = `projects/${project}/topics/${deadLetterId}`;
  const subscriptionName = `projects/${project}/subscriptions/${subscriptionId}`;
  const sinkName = `projects/${project}/sinks/${sinkId}`;
  const destination = `pubsub.googleapis.com/${topicName}`;
  const filter = driftEventsFilter(project, options.declared);
  const description = 'Admin Activity audit entries about what jobmatch-operator manages, for its drift events (jobmatch-operator drift-events setup)';
  const steps: SetupStep[] = [];
  const { pubsub, logging } = clients;

  const ensureTopic = async (kind: 'topic' | 'dead-letter-topic', id: string, name: string): Promise<TopicState> => {
    let exists = true;
    try {
      await pubsub.topic(id).getMetadata(gaxOpts);
    } catch (e) {
      if (codeOf(e) !== NOT_FOUND) throw e;
      exists = false;
    }
    const what = kind === 'topic' ? 'the sink publishes here' : `undeliverable messages go here after ${SUBSCRIPTION_SETTINGS.maxDeliveryAttempts} attempts`;
    if (exists) {
      steps.push({ kind, name, action: 'none', detail: what, gcloud: [] });
    } else {
      if (!dryRun) await pubsub.createTopic(id, gaxOpts);
      steps.push({ kind, name, action: 'create', detail: what, gcloud: [gcloud('pubsub', 'topics', 'create', id, `--project=${project}`)] });
    }
    return { exists };
  };

  const readSubscription = async (): Promise<SubscriptionState | undefined> => {
    try {
      const [m] = await pubsub.subscription(subscriptionId).getMetadata(gaxOpts);
      const ttl = m.expirationPolicy ? seconds(m.expirationPolicy.ttl) : 31 * 86_400;
      return {
        ...(m.topic ? { topic: String(m.topic) } : {}),
        ...(m.ackDeadlineSeconds !== undefined && m.ackDeadlineSeconds !== null ? { ackDeadlineSeconds: Number(m.ackDeadlineSeconds) } : {}),
        ...(seconds(m.messageRetentionDuration) !== undefined ? { retentionSeconds: seconds(m.messageRetentionDuration)! } : {}),
        ...(m.deadLetterPolicy?.deadLetterTopic ? { deadLetterTopic: String(m.deadLetterPolicy.deadLetterTopic) } : {}),
        ...(m.deadLetterPolicy?.maxDeliveryAttempts ? { maxDeliveryAttempts: Number(m.deadLetterPolicy.maxDeliveryAttempts) } : {}),
        expires: ttl !== undefined && ttl > 0,
        ...(seconds(m.retryPolicy?.minimumBackoff) !== undefined ? { minimumBackoffSeconds: seconds(m.retryPolicy?.minimumBackoff)! } : {}),
        ...(seconds(m.retryPolicy?.maximumBackoff) !== undefined ? { maximumBackoffSeconds: seconds(m.retryPolicy?.maximumBackoff)! } : {}),
      };
    } catch (e) {
      if (codeOf(e) === NOT_FOUND) return undefined;
      throw e;
    }
  };

  const S = SUBSCRIPTION_SETTINGS;
  const subscriptionConfig = {
    ackDeadlineSeconds: S.ackDeadlineSeconds,
    messageRetentionDuration: { seconds: S.retentionSeconds },
    deadLetterPolicy: { deadLetterTopic: deadLetterName, maxDeliveryAttempts: S.maxDeliveryAttempts },
    // Set and empty: the subscription never expires (unset, an unused one is deleted after 31 days).
    expirationPolicy: {},
    retryPolicy: { minimumBackoff: { seconds: S.minimumBackoffSeconds }, maximumBackoff: { seconds: S.maximumBackoffSeconds } },
  };
  const subscriptionFlags = {
    ack: `--ack-deadline=${S.ackDeadlineSeconds}`,
    retention: `--message-retention-duration=${S.retentionSeconds / 86_400}d`,
    deadLetter: [`--dead-letter-topic=${deadLetterId}`, `--max-delivery-attempts=${S.maxDeliveryAttempts}`],
    expiration: '--expiration-period=never',
    retry: [`--min-retry-delay=${S.minimumBackoffSeconds}s`, `--max-retry-delay=${S.maximumBackoffSeconds}s`],
  };
  const createSubscriptionCommand = gcloud('pubsub', 'subscriptions', 'create', subscriptionId, `--project=${project}`, `--topic=${topicId}`,
    subscriptionFlags.ack, subscriptionFlags.retention, ...subscriptionFlags.deadLetter, subscriptionFlags.expiration, ...subscriptionFlags.retry);
  const summary = `pull, ack deadline ${S.ackDeadlineSeconds}s, retention ${S.retentionSeconds / 86_400}d, never expires, `
    + `dead letter to ${deadLetterId} after ${S.maxDeliveryAttempts} attempts, retry ${S.minimumBackoffSeconds}s–${S.maximumBackoffSeconds}s`;

  const ensureSubscription = async (): Promise<void> => {
    const current = await readSubscription();
    if (!current) {
      if (!dryRun) await pubsub.topic(topicId).createSubscription(subscriptionId, { ...subscriptionConfig, gaxOpts } as never);
      steps.push({ kind: 'subscription', name: subscriptionName, action: 'create', detail: summary, gcloud: [createSubscriptionCommand] });
      return;
    }
    if (current.topic && current.topic !== topicName) {
      throw new DriftEventsSetupError(`subscription ${subscriptionName} exists on another topic (${current.topic}); a subscription's topic cannot change: `
        + `pick another name with --subscription, or delete it (gcloud pubsub subscriptions delete ${subscriptionId} --project=${project})`);
    }
    const changes: string[] = [];
    const fields: string[] = [];
    const flags: string[] = [];
    if (current.ackDeadlineSeconds !== S.ackDeadlineSeconds) {
      changes.push(`ack deadline ${current.ackDeadlineSeconds ?? '?'}s → ${S.ackDeadlineSeconds}s`);
      fields.push('ackDeadlineSeconds');
      flags.push(subscriptionFlags.ack);
    }
    if (current.retentionSeconds !== S.retentionSeconds) {
      changes.push(`retention ${current.retentionSeconds ?? '?'}s → ${S.retentionSeconds}s`);
      fields.push('messageRetentionDuration');
      flags.push(subscriptionFlags.retention);
    }
    if (current.deadLetterTopic !== deadLetterName || current.maxDeliveryAttempts !== S.maxDeliveryAttempts) {
      changes.push(`dead letter ${current.deadLetterTopic ?? 'none'} after ${current.maxDeliveryAttempts ?? '-'} → ${deadLetterName} after ${S.maxDeliveryAttempts}`);
      fields.push('deadLetterPolicy');
      flags.push(...subscriptionFlags.deadLetter);
    }
    if (current.expires) {
      changes.push('expires when unused → never expires');
      fields.push('expirationPolicy');
      flags.push(subscriptionFlags.expiration);
    }
    if (current.minimumBackoffSeconds !== S.minimumBackoffSeconds || current.maximumBackoffSeconds !== S.maximumBackoffSeconds) {
      changes.push(`retry ${current.minimumBackoffSeconds ?? '?'}s–${current.maximumBackoffSeconds ?? '?'}s → ${S.minimumBackoffSeconds}s–${S.maximumBackoffSeconds}s`);
      fields.push('retryPolicy');
      flags.push(...subscriptionFlags.retry);
    }
    if (changes.length === 0) {
      steps.push({ kind: 'subscription', name: subscriptionName, action: 'none', detail: summary, gcloud: [] });
      return;
    }
    if (!dryRun) {
      const config = subscriptionConfig as Record<string, unknown>;
      await pubsub.subscription(subscriptionId).setMetadata(Object.fromEntries(fields.map((f) => [f, config[f]])) as never, gaxOpts);
    }
    steps.push({
      kind: 'subscription', name: subscriptionName, action: 'update', detail: changes.join('; '),
      gcloud: [gcloud('pubsub', 'subscriptions', 'update', subscriptionId, `--project=${project}`, ...flags)],
    });
  };

  /** The sink: created with a unique writer identity, or its destination, filter and description brought back. */
  const ensureSink = async (): Promise<string | undefined> => {
    const sink = logging.sink(sinkId);
    let current: { destination?: string | null; filter?: string | null; description?: string | null; writerIdentity?: string | null } | undefined;
    try {
      [current] = await sink.getMetadata(gaxOpts);
    } catch (e) {
      if (codeOf(e) !== NOT_FOUND && codeOf(e) !== 404) throw e;
    }
    const sinkFlags = [`--project=${project}`, `--log-filter=${filter}`, `--description=${description}`];
    if (!current) {
      let writer: string | undefined;
      if (!dryRun) {
        const [, created] = await logging.createSink(sinkId, { destination, filter, description, uniqueWriterIdentity: true, gaxOptions: gaxOpts } as never);
        writer = (created as { writerIdentity?: string }).writerIdentity ?? undefined;
      }
      steps.push({
        kind: 'sink', name: sinkName, action: 'create', detail: `to ${destination}, unique writer identity${writer ? ` ${writer}` : ''}`,
        gcloud: [gcloud('logging', 'sinks', 'create', sinkId, destination, ...sinkFlags)],
      });
      return writer;
    }
    const changes: string[] = [];
    if (current.destination !== destination) changes.push(`destination ${current.destination ?? 'none'} → ${destination}`);
    if ((current.filter ?? '') !== filter) changes.push('filter');
    if ((current.description ?? '') !== description) changes.push('description');
    const shared = !current.writerIdentity || !current.writerIdentity.includes('@gcp-sa-logging.');
    if (shared) changes.push('a unique writer identity');
    if (changes.length === 0) {
      steps.push({ kind: 'sink', name: sinkName, action: 'none', detail: `to ${destination}, writer ${current.writerIdentity}`, gcloud: [] });
      return current.writerIdentity ?? undefined;
    }
    let writer = current.writerIdentity ?? undefined;
    if (!dryRun) {
      const [updated] = await logging.configService.updateSink({
        sinkName, sink: { destination, filter, description }, updateMask: { paths: ['destination', 'filter', 'description'] }, uniqueWriterIdentity: true,
      }, gaxOpts);
      writer = updated.writerIdentity ?? writer;
    }
    steps.push({
      kind: 'sink', name: sinkName, action: 'update', detail: `${changes.join(', ')} set as declared`,
      gcloud: [gcloud('logging', 'sinks', 'update', sinkId, destination, ...sinkFlags)],
    });
    return shared && dryRun ? undefined : writer;
  };

  /** Set once the Pub/Sub emulator answers an IAM call UNIMPLEMENTED: the remaining grants are skipped. */
  let iamUnsupported = false;

  /** Read-modify-write of one IAM policy (its etag guards the write): adds the member to the role if missing. */
  const ensureGrant = async (grant: {
    on: 'topic' | 'subscription'; id: string; name: string; role: string; why: string;
    /** undefined: not known yet (the sink's writer identity in a dry run that would create the sink). */
    member: string | undefined;
    /** The resource does not exist yet (a dry run that would create it). */
    missing: boolean;
  }): Promise<void> => {
    const { on, id, name, role, why, member } = grant;
    const memberArg = member ? shellQuote(`--member=${member}`)
      : `--member="$(gcloud logging sinks describe ${sinkId} --project=${project} --format='value(writerIdentity)')"`;
    const command = `${gcloud('pubsub', on === 'topic' ? 'topics' : 'subscriptions', 'add-iam-policy-binding', id, `--project=${project}`)} ${memberArg} --role=${role}`;
    const step = { kind: 'grant' as const, name, role, member: member ?? "the sink's writer identity" };
    if (iamUnsupported) {
      steps.push({ ...step, action: 'skip', detail: `${why}; the Pub/Sub emulator implements no IAM`, gcloud: [] });
      return;
    }
    if (grant.missing || !member) {
      steps.push({ ...step, action: 'grant', detail: why, gcloud: [command] });
      return;
    }
    const resource = on === 'topic' ? pubsub.topic(id) : pubsub.subscription(id);
    let policy: { etag?: unknown; bindings?: { role?: string | null; members?: string[] | null }[] | null };
    try {
      [policy] = await resource.iam.getPolicy(gaxOpts) as unknown as [typeof policy];
    } catch (e) {
      if (codeOf(e) === UNIMPLEMENTED && clients.pubsubEmulator) {
        iamUnsupported = true;
        steps.push({ ...step, action: 'skip', detail: `${why}; the Pub/Sub emulator implements no IAM`, gcloud: [] });
        return;
      }
      throw e;
    }
    const bindings = (policy.bindings ?? []).map((b) => ({ role: String(b.role ?? ''), members: [...(b.members ?? [])] }));
    if (bindings.some((b) => b.role === role && b.members.includes(member))) {
      steps.push({ ...step, action: 'none', detail: why, gcloud: [] });
      return;
    }
    if (!dryRun) {
      const existing = bindings.find((b) => b.role === role);
      if (existing) existing.members.push(member);
      else bindings.push({ role, members: [member] });
      await resource.iam.setPolicy({ ...(policy.etag ? { etag: policy.etag } : {}), bindings } as never, gaxOpts);
    }
    steps.push({ ...step, action: 'grant', detail: why, gcloud: [command] });
  };

  const topic = await ensureTopic('topic', topicId, topicName);
  const deadLetter = await ensureTopic('dead-letter-topic', deadLetterId, deadLetterName);
  if (dryRun && !topic.exists) {
    // Without the topic the subscription cannot exist either.
    steps.push({ kind: 'subscription', name: subscriptionName, action: 'create', detail: summary, gcloud: [createSubscriptionCommand] });
  } else {
    await ensureSubscription();
  }
  const writerIdentity = await ensureSink();
  const subscriptionMissing = dryRun && steps.some((s) => s.kind === 'subscription' && s.action === 'create');
  await ensureGrant({ on: 'topic', id: topicId, name: topicName, role: PUBLISHER, member: writerIdentity, why: 'the sink publishes to the topic', missing: dryRun && !topic.exists });
  // Dead-lettering: Pub/Sub's service agent forwards from the subscription to the dead-letter topic.
  const agent = iamUnsupported ? 'the Pub/Sub service agent' : `serviceAccount:service-${await clients.projectNumber()}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  await ensureGrant({ on: 'topic', id: deadLetterId, name: deadLetterName, role: PUBLISHER, member: agent, why: 'Pub/Sub forwards undeliverable messages', missing: dryRun && !deadLetter.exists });
  await ensureGrant({ on: 'subscription', id: subscriptionId, name: subscriptionName, role: SUBSCRIBER, member: agent, why: 'Pub/Sub acknowledges what it dead-letters', missing: subscriptionMissing });
  return {
    project, dryRun, topic: topicName, deadLetterTopic: deadLetterName, subscription: subscriptionName, sink: sinkName, filter,
    ...(writerIdentity ? { writerIdentity } : {}), steps, changed: steps.some((s) => s.action !== 'none' && s.action !== 'skip'),
  };
}
