/**
 * Every resource kind the operator manages: the one table the engine iterates. Adding a kind is a folder and a
 * line here. The order matters once: a kind plans after the kinds before it (a rollout waits for its secrets).
 */
import { bucketKind } from './bucket/index.js';
import { datasetKind } from './dataset/index.js';
import { deploymentKind } from './deployment/index.js';
import type { Kind } from './kind.js';
import { secretKind } from './secret/index.js';

export const KINDS: readonly Kind[] = [bucketKind, datasetKind, secretKind, deploymentKind] as unknown as readonly Kind[];
