/** Polls until a condition holds: for what arrives asynchronously from another process (an apiserver, Pub/Sub, a VM agent). */

export interface UntilOptions {
  timeoutMs?: number;
  everyMs?: number;
  /** A read that throws counts as "not yet" (a port not open yet) instead of failing at once. */
  tolerateErrors?: boolean;
  /** More to say when it times out (a process's log). */
  detail?: () => string;
}

/** Resolves with the first value `ok` accepts; fails after timeoutMs naming `what` and the last value read. */
export async function until<T>(what: string, read: () => Promise<T> | T, ok: (v: T) => boolean, options: UntilOptions = {}): Promise<T> {
  const { timeoutMs = 20_000, everyMs = 50, tolerateErrors = false, detail } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = tolerateErrors ? await Promise.resolve().then(read).catch(() => undefined as T) : await read();
    if ((!tolerateErrors || v !== undefined) && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)?.slice(0, 2000)}${detail ? `\n${detail()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
