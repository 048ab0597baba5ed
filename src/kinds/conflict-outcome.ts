/** A fresh read showed the resource is not ours, or moved since it was planned: zero writes to it, and nothing that depends on it runs. */
export class ConflictOutcome extends Error {}
