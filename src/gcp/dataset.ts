/** BigQuery datasets: observe, create, patch with the etag, list by label; their IAM is the access list. */
import type { BigQuery } from '@google-cloud/bigquery';
import { ENVIRONMENT_LABEL } from '../api/naming.js';
import { fromAccessEntry } from '../plan/dataset-access.js';
import type { DatasetObservation, LabelledResource, ResourceContents } from '../plan/observed.js';
import { unlessNotFound, type GcpCaller } from './gcp-caller.js';
import type { CallMeta } from './gcp-error.js';

type Json = Record<string, any>;

const meta = (operation: string, kind: 'read' | 'write', project: string, id: string, permission: string): CallMeta =>
  ({ api: 'bigquery', operation, kind, resource: `projects/${project}/datasets/${id}`, permission });

export function toDatasetObservation(md: Json): DatasetObservation {
  const rawAccess = (md.access ?? []) as Json[];
  return {
    datasetId: md.datasetReference?.datasetId,
    location: md.location ?? '',
    description: md.description ?? '',
    ...(md.defaultTableExpirationMs !== undefined && md.defaultTableExpirationMs !== null ? { defaultTableExpirationMs: Number(md.defaultTableExpirationMs) } : {}),
    labels: md.labels ?? {},
    access: rawAccess.map(fromAccessEntry).filter((e) => e !== undefined),
    rawAccess,
    etag: md.etag ?? '',
  };
}

export class DatasetClient {
  /** `bigquery` must be the client of `project`: createDataset and getDatasets would put a projectId option into the request itself. */
  constructor(private readonly bigquery: BigQuery, private readonly project: string, private readonly caller: GcpCaller, private readonly signal?: AbortSignal) {}

  private call<T>(m: CallMeta, fn: () => Promise<T>): Promise<T> {
    return this.caller.call(m, fn, this.signal);
  }

  private dataset(id: string) {
    return this.bigquery.dataset(id, { projectId: this.project });
  }

  async observe(id: string): Promise<DatasetObservation | undefined> {
    const md = await unlessNotFound(this.call(meta('datasets.get', 'read', this.project, id, 'bigquery.datasets.get'),
      async () => (await this.dataset(id).getMetadata())[0]));
    return md ? toDatasetObservation(md) : undefined;
  }

  async create(id: string, body: Json): Promise<void> {
    await this.call(meta('datasets.insert', 'write', this.project, id, 'bigquery.datasets.create'),
      () => this.bigquery.createDataset(id, body));
  }

  /** PATCH with If-Match: the etag makes a concurrent change a 412 instead of a lost update. */
  async patch(id: string, patch: Json, etag: string): Promise<void> {
    await this.call(meta('datasets.patch', 'write', this.project, id, 'bigquery.datasets.update'),
      () => this.dataset(id).setMetadata({ ...patch, etag }));
  }

  /** Never with deleteContents: BigQuery itself refuses a dataset that still holds tables. */
  async delete(id: string): Promise<void> {
    await this.call(meta('datasets.delete', 'write', this.project, id, 'bigquery.datasets.delete'), () => this.dataset(id).delete({ force: false }));
  }

  async listLabelled(environment: string): Promise<LabelledResource[]> {
    const [datasets] = await this.call(meta('datasets.list', 'read', this.project, '*', 'bigquery.datasets.list'),
      () => this.bigquery.getDatasets({ filter: `labels.${ENVIRONMENT_LABEL}:${environment}`, autoPaginate: true }));
    return datasets.map((d) => ({ kind: 'Dataset' as const, name: d.id!, labels: (d.metadata?.labels ?? {}) as Record<string, string> }));
  }

  /** How many tables it holds, up to one page. */
  async contents(id: string): Promise<ResourceContents> {
    const [tables, next] = await this.call(meta('tables.list', 'read', this.project, id, 'bigquery.tables.list'),
      () => this.dataset(id).getTables({ maxResults: 1000, autoPaginate: false }));
    return { count: tables.length, more: Boolean((next as { pageToken?: string } | null)?.pageToken) };
  }
}
