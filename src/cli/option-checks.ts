/** Checks of flags several commands share: each gives the sentence to print, or undefined when the value is fine. */

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;

export function endpointProblem(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    return `--gcp-endpoint (or JOBMATCH_GCP_ENDPOINT) must be an http(s) base URL such as http://127.0.0.1:4443, got "${endpoint}"`;
  }
  return undefined;
}

export function timeoutProblem(timeout: string | undefined): string | undefined {
  return timeout !== undefined && !(Number(timeout) > 0) ? `--timeout must be a number of seconds greater than 0, got "${timeout}"` : undefined;
}

export function emulatorProblem(emulator: string | undefined): string | undefined {
  return emulator !== undefined && !HOST_PORT.test(emulator)
    ? `--pubsub-emulator (or PUBSUB_EMULATOR_HOST) must be HOST:PORT such as 127.0.0.1:8085, got "${emulator}"`
    : undefined;
}

/** --shards: a whole number 1..1024; above 1 it needs Leases (leader election) and a cluster (not --manifests). */
export function shardsProblem(shards: string | undefined, { leaderElection, manifests }: { leaderElection: boolean; manifests: boolean }): string | undefined {
  if (shards === undefined) return undefined;
  const n = Number(shards);
  if (!/^\d+$/.test(shards.trim()) || n < 1 || n > 1024) return `--shards must be a whole number from 1 to 1024, got "${shards}"`;
  if (n === 1) return undefined;
  if (manifests) {
    return `--shards ${n} shares a cluster's environments between replicas through Leases; with --manifests one process watches a directory: drop --shards (or --manifests, to run against a cluster)`;
  }
  if (!leaderElection) {
    return `--shards ${n} decides which replica owns which shard through Leases, and --no-leader-election turns Leases off: drop --no-leader-election (or use --shards 1 for a single replica)`;
  }
  return undefined;
}

/** --lease-duration, --lease-renew-deadline, --lease-retry-period (seconds): positive, and retry < renew deadline < duration. */
export function leaseTimingsProblem(duration: string | undefined, renewDeadline: string | undefined, retryPeriod: string | undefined): string | undefined {
  const values = { '--lease-duration': duration ?? '15', '--lease-renew-deadline': renewDeadline ?? '10', '--lease-retry-period': retryPeriod ?? '2' };
  for (const [flag, value] of Object.entries(values)) {
    if (!(Number(value) > 0)) return `${flag} must be a number of seconds greater than 0, got "${value}"`;
  }
  const [d, r, p] = Object.values(values).map(Number) as [number, number, number];
  if (r >= d) return `--lease-renew-deadline (${r} s) must be shorter than --lease-duration (${d} s): a holder must stop before any other replica can see its Lease expire`;
  if (p >= r) return `--lease-retry-period (${p} s) must be shorter than --lease-renew-deadline (${r} s): a holder must get more than one chance to renew`;
  return undefined;
}
