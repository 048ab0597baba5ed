import type { JobMatchEnvironment } from '../../src/api/types.js';

type DeepRequired<T> = T extends (infer U)[] ? DeepRequired<U>[] : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> } : T;

/**
 * Every field of the TypeScript types, set. DeepRequired makes the compiler demand each field the
 * types declare, and excess-property checks refuse any field they do not: so the keys below are
 * exactly the types' keys, and the test compares them with the schema's.
 */
export const everyField: Omit<DeepRequired<JobMatchEnvironment>, 'metadata'> & Pick<JobMatchEnvironment, 'metadata'> = {
  apiVersion: 'jobmatch.io/v1alpha1',
  kind: 'JobMatchEnvironment',
  metadata: { name: 'full', namespace: 'jobmatch' },
  spec: {
    environment: 'full',
    envMode: 'dev',
    gcp: { projectId: 'job-match-v0', location: 'EU' },
    buckets: [{
      name: 'jobmatch-full-bronze', env: 'GCS_BUCKET', location: 'EU', storageClass: 'NEARLINE', versioning: true,
      labels: { team: 'data' }, lifecycle: { deleteAfterDays: 30 }, deletionPolicy: 'Delete',
    }],
    datasets: [{
      datasetId: 'full_gold', env: 'BIGQUERY_GOLD_DATASET', location: 'EU', description: 'Gold',
      defaultTableExpirationDays: 7, labels: { layer: 'gold' }, deletionPolicy: 'Retain',
    }],
    secrets: [{ name: 'POSTGRES_PASSWORD', source: 'generate', generate: { length: 40 }, rotationDays: 30, deletionPolicy: 'Delete' }],
    iam: [{ member: 'user:ops@example.com', role: 'roles/logging.logWriter', resource: 'project', ensure: 'absent' }],
    vm: { name: 'jobmatch-full-vm', zone: 'europe-west1-b' },
    app: {
      config: { POSTGRES_HOST: 'db', SESSION_COOKIE_NAME: 'jm_session' },
      notSecret: ['SESSION_COOKIE_NAME'],
      compose: { ref: 'main', file: 'docker-compose.yml', directory: '/opt/jobmatch' },
      healthCheck: { url: 'http://localhost:8080/health/', timeoutSeconds: 60 },
    },
    policy: { drift: 'Report', suspend: true, resyncSeconds: 300, adoptExisting: true },
    parity: { reference: 'prod', expectedDifferences: [{ path: 'datasets[gold].*', reason: 'prod-only reports' }] },
  },
  status: {
    inventory: { resources: [{ kind: 'Bucket', name: 'jobmatch-staging-bronze-job-match-v0' }], bindings: [{ resource: 'project', role: 'roles/bigquery.jobUser', member: 'serviceAccount:vm@job-match-v0.iam.gserviceaccount.com' }], preexisting: [{ resource: 'project', role: 'roles/logging.logWriter', member: 'user:ops@example.com' }] },
    observedGeneration: 3,
    conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: 'ok', lastTransitionTime: '2026-11-25T10:00:00Z', observedGeneration: 3 }],
    resources: [{ kind: 'Bucket', name: 'jobmatch-full-bronze', state: 'InSync', message: '' }],
    exports: { GCS_BUCKET: 'jobmatch-full-bronze' },
    configHash: 'sha256:00',
    deployedConfigHash: 'sha256:00',
    lastReconcileTime: '2026-11-25T10:00:00Z',
    lastDriftTime: '2026-11-25T09:00:00Z',
  },
};

