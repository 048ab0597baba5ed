/**
 * Group commit for IAM policies: edits to one policy from every environment of the process that arrive
 * while a read-modify-write is in flight go together into the next one, so environments sharing a
 * project never race each other for its etag.
 */
import type { BindingRef } from '../plan/types.js';

export interface PolicyEdit {
  add: BindingRef[];
  remove: BindingRef[];
}

/** `stale`: an earlier batch of this writer changed the policy, so any policy read before is out of date. */
type Commit = (edit: PolicyEdit, stale: boolean) => Promise<void>;

interface Queued {
  edit: PolicyEdit;
  commit: Commit;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class PolicyWriter {
  private readonly queues = new Map<string, Queued[]>();
  private readonly running = new Set<string>();
  private readonly written = new Set<string>();

  /** Applies `edit` to the policy `key` through `commit` (one RMW), possibly batched with others. */
  edit(key: string, edit: PolicyEdit, commit: Commit): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(key) ?? [];
      queue.push({ edit, commit, resolve, reject });
      this.queues.set(key, queue);
      if (!this.running.has(key)) void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    this.running.add(key);
    try {
      for (let batch = this.take(key); batch.length > 0; batch = this.take(key)) {
        const merged = { add: batch.flatMap((q) => q.edit.add), remove: batch.flatMap((q) => q.edit.remove) };
        try {
          await batch[0]!.commit(merged, this.written.has(key));
          this.written.add(key);
          for (const q of batch) q.resolve();
        } catch (e) {
          if (batch.length === 1) batch[0]!.reject(e);
          else await this.commitEach(key, batch);
        }
      }
    } finally {
      this.running.delete(key);
    }
  }

  /** A batch was refused: each edit alone, so one environment's rejected binding does not fail the others. */
  private async commitEach(key: string, batch: Queued[]): Promise<void> {
    for (const q of batch) {
      try {
        await q.commit(q.edit, true);
        this.written.add(key);
        q.resolve();
      } catch (e) {
        q.reject(e);
      }
    }
  }

  private take(key: string): Queued[] {
    const queue = this.queues.get(key) ?? [];
    this.queues.delete(key);
    return queue;
  }
}
