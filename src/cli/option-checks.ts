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
