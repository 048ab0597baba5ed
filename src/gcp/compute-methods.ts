/**
 * The Compute methods the operator calls. The bundle (scripts/bundle.mjs) keeps only these, and the types they
 * need, of @google-cloud/compute's 11 MB of protos (v1, v1beta, v1small: 2,000-odd types), which its clients
 * parse on construction: 17 ms instead of 420 ms of every run that observes a VM. A method missing here fails
 * in the bundled CLI only, so test/engine/deployment.test.ts runs a rollout through bin/.
 */
export const COMPUTE_METHODS: Readonly<Record<string, readonly string[]>> = {
  Instances: ['Get', 'SetMetadata', 'GetGuestAttributes'],
  ZoneOperations: ['Get', 'Wait'],
};
