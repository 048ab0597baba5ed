/** Where the controller reads objects and writes what it decided: the API server, or a watched directory. */
import type { EnvironmentObject } from './environment-object.js';
import type { EnvironmentStatus } from './inventory.js';

export type EventType = 'Normal' | 'Warning';

export interface ObjectStore {
  /** Every object the source knows now (claims across objects are decided over them). */
  list(): EnvironmentObject[];
  get(key: string): EnvironmentObject | undefined;
  /** The object read whole from the source, for one the store holds only as a summary (another shard's). */
  fetch?(key: string): Promise<EnvironmentObject | undefined>;
  /** Reads whole, into the store, the objects among `keys` it holds only as summaries (a shard just gained). */
  hydrate?(keys: Iterable<string>): Promise<void>;
  /** Writes the status against the object's resourceVersion; throws StaleObjectError when it moved. */
  writeStatus(object: EnvironmentObject, status: EnvironmentStatus): Promise<void>;
  /** Finalizers exist only where deletion is an event (the API server). */
  readonly finalizers: boolean;
  addFinalizer(object: EnvironmentObject): Promise<void>;
  removeFinalizer(object: EnvironmentObject): Promise<void>;
  /** An event about the object, aggregated by the store (count, no spam on a steady error). */
  event(object: EnvironmentObject, type: EventType, reason: string, message: string): Promise<void>;
}

/** The object changed between our read and our write (409): re-read and decide again. */
export class StaleObjectError extends Error {}
