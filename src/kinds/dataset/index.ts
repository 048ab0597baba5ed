/** The Dataset kind: BigQuery datasets; their IAM is their access list. */
import { MANAGED_KEYS } from '../../plan/diff-orphan.js';
import type { Kind } from '../kind.js';
import { accessGrants } from './access.js';
import { DatasetClient, datasetPolicy } from './dataset-client.js';
import { desiredDatasets, diffDataset, type DatasetObservation, type DatasetStep, type DesiredDataset } from './dataset-plan.js';

export const datasetKind: Kind<DesiredDataset, DatasetObservation, DatasetStep> = {
  kind: 'Dataset',
  iamPrefix: 'dataset',
  contentsNoun: 'tables',
  embeddedPolicy: true,
  desired: desiredDatasets,
  nameFor: (_spec, name) => name,
  diff: diffDataset,
  deleteStep: (r) => ({ kind: 'Dataset', op: 'delete', datasetId: r.name, etag: r.version ?? '' }),
  releaseStep: (r) => ({ kind: 'Dataset', op: 'patch', datasetId: r.name, patch: { labels: Object.fromEntries(MANAGED_KEYS.map((k) => [k, null])) }, etag: r.version ?? '' }),
  policyOf: datasetPolicy,
  grantsOf: (step) => accessGrants(step as { body?: Record<string, unknown>; patch?: Record<string, unknown> }),
  connect: (clients, ctx) => new DatasetClient(clients.bigquery, ctx),
};
