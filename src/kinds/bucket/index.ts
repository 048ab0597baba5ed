/** The Bucket kind: Cloud Storage buckets. */
import { MANAGED_KEYS } from '../../plan/diff-orphan.js';
import type { Kind } from '../kind.js';
import { BucketClient } from './bucket-client.js';
import { desiredBuckets, diffBucket, type BucketFields, type BucketObservation, type BucketStep } from './bucket-plan.js';

export const bucketKind: Kind<BucketFields, BucketObservation, BucketStep> = {
  kind: 'Bucket',
  iamPrefix: 'bucket',
  globalNames: true,
  contentsNoun: 'objects',
  desired: desiredBuckets,
  nameFor: (_spec, name) => name,
  diff: diffBucket,
  deleteStep: (r) => ({ kind: 'Bucket', op: 'delete', bucket: r.name, metageneration: r.version ?? '' }),
  releaseStep: (r) => ({ kind: 'Bucket', op: 'patch', bucket: r.name, patch: { labels: Object.fromEntries(MANAGED_KEYS.map((k) => [k, null])) }, metageneration: r.version ?? '' }),
  connect: (clients, ctx) => new BucketClient(clients.storage, ctx),
};
