/** BigQuery datasets over @google-cloud/bigquery: observe, execute the dataset steps, list by label, contents; their IAM is the access list. */
import type { BigQuery } from '@google-cloud/bigquery';
import { ENVIRONMENT_LABEL } from '../../api/naming.js';
import { unlessNotFound } from '../../gcp/gcp-caller.js';
import type { CallMeta } from '../../gcp/gcp-error.js';
import type { LabelledResource, PolicyObservation, ResourceContents } from '../../plan/observed.js';
import type { BindingRef } from '../../plan/types.js';
import { ConflictOutcome } from '../conflict-outcome.js';
import type { CallContext, KindClient } from '../kind.js';
import { accessBindings, editAccess, fromAccessEntry } from './access.js';
import type { DatasetObservation, DatasetStep } from './dataset-plan.js';

type Json = Record<string, any>;

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
    version: md.etag ?? '',
  };
}

/** A dataset's IAM is its access list: read with it, edited with its etag. */
export const datasetPolicy = (o: DatasetObservation): PolicyObservation => ({ etag: o.version, bindings: accessBindings(o.rawAccess), raw: o.rawAccess });

export class DatasetClient implements KindClient<DatasetObservation, DatasetStep> {
  /** `bigquery` must be the client of the project: createDataset and getDatasets would put a projectId option into the request itself. */
  constructor(private readonly bigquery: BigQuery, private readonly ctx: CallContext) {}

  private meta(operation: string, kind: 'read' | 'write', id: string, permission: string): CallMeta {
    return { api: 'bigquery', operation, kind, resource: `projects/${this.ctx.project}/datasets/${id}`, permission };
  }

  private call<T>(m: CallMeta, fn: () => Promise<T>): Promise<T> {
    return this.ctx.caller.call(m, fn, this.ctx.signal);
  }

  private dataset(id: string) {
    return this.bigquery.dataset(id, { projectId: this.ctx.project });
  }

  async observe(id: string): Promise<DatasetObservation | undefined> {
    const md = await unlessNotFound(this.call(this.meta('datasets.get', 'read', id, 'bigquery.datasets.get'),
      async () => (await this.dataset(id).getMetadata())[0]));
    return md ? toDatasetObservation(md) : undefined;
  }

  async execute(step: DatasetStep): Promise<void> {
    switch (step.op) {
      case 'create':
        await this.call(this.meta('datasets.insert', 'write', step.datasetId, 'bigquery.datasets.create'), () => this.bigquery.createDataset(step.datasetId, step.body));
        return;
      case 'patch': return this.patch(step.datasetId, step.patch, step.etag);
      case 'delete': {
        // BigQuery's delete takes no etag: compare it on a fresh read just before; BigQuery itself refuses a dataset that still holds tables.
        const fresh = await this.observe(step.datasetId);
        if (!fresh) return;
        if (fresh.version !== step.etag) throw new ConflictOutcome(`dataset ${step.datasetId} changed since it was planned`);
        await this.call(this.meta('datasets.delete', 'write', step.datasetId, 'bigquery.datasets.delete'), () => this.dataset(step.datasetId).delete({ force: false }));
      }
    }
  }

  /** PATCH with If-Match: the etag makes a concurrent change a 412 instead of a lost update. */
  private async patch(id: string, patch: Json, etag: string): Promise<void> {
    await this.call(this.meta('datasets.patch', 'write', id, 'bigquery.datasets.update'), () => this.dataset(id).setMetadata({ ...patch, etag }));
  }

  async listLabelled(environment: string): Promise<LabelledResource[]> {
    const [datasets] = await this.call(this.meta('datasets.list', 'read', '*', 'bigquery.datasets.list'),
      () => this.bigquery.getDatasets({ filter: `labels.${ENVIRONMENT_LABEL}:${environment}`, autoPaginate: true }));
    return datasets.map((d) => ({ kind: 'Dataset' as const, name: d.id!, labels: (d.metadata?.labels ?? {}) as Record<string, string> }));
  }

  /** Every dataset of the project, with its labels. */
  async listAll(): Promise<LabelledResource[]> {
    const [datasets] = await this.call(this.meta('datasets.list', 'read', '*', 'bigquery.datasets.list'), () => this.bigquery.getDatasets({ autoPaginate: true }));
    return datasets.map((d) => ({ kind: 'Dataset' as const, name: d.id!, labels: (d.metadata?.labels ?? {}) as Record<string, string> }));
  }

  /** How many tables it holds, up to one page; the etag a delete relies on comes from a read of the dataset beside it. */
  async contents(id: string): Promise<ResourceContents> {
    const [tables, next] = await this.call(this.meta('tables.list', 'read', id, 'bigquery.tables.list'),
      () => this.dataset(id).getTables({ maxResults: 1000, autoPaginate: false }));
    return { count: tables.length, more: Boolean((next as { pageToken?: string } | null)?.pageToken) };
  }

  async readPolicy(id: string): Promise<PolicyObservation | undefined> {
    const o = await this.observe(id);
    return o ? datasetPolicy(o) : undefined;
  }

  async commitPolicy(id: string, base: PolicyObservation, add: BindingRef[], remove: BindingRef[]): Promise<void> {
    await this.patch(id, { access: editAccess((base.raw ?? []) as Json[], add, remove) }, base.etag);
  }
}
