/** Every resource kind the operator manages: the one table the engine iterates. Adding a kind is a folder and a line here. */
import { bucketKind } from './bucket/index.js';
import { datasetKind } from './dataset/index.js';
import type { Kind } from './kind.js';
import { secretKind } from './secret/index.js';

export const KINDS: readonly Kind[] = [bucketKind, datasetKind, secretKind] as unknown as readonly Kind[];
