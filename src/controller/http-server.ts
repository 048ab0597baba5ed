/** One port for /healthz, /readyz, /metrics and /status (the directory mode's statuses), as kubelet probes and Prometheus expect. */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpEndpoints {
  /** Live: the process works (the event loop answers). */
  healthy: () => boolean;
  /** Ready: the source is synced (and this replica is leader or a standby). */
  ready: () => boolean;
  /** Why not ready, for the 503's body (e.g. the last failed list). */
  notReadyReason?: () => string | undefined;
  metrics: Registry;
  status?: () => unknown;
}

/** Listens on HOST:PORT (port 0 picks one); resolves with the server and its base URL. */
export async function serveHttp(listen: string, endpoints: HttpEndpoints): Promise<{ server: Server; url: string }> {
  const [, host = '0.0.0.0', port = '8080'] = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen) ?? [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return endpoints.healthy() ? reply(200, 'ok\n') : reply(500, 'unhealthy\n');
    if (path === '/readyz') return endpoints.ready() ? reply(200, 'ok\n') : reply(503, `not ready${((why) => (why ? `: ${why}` : ''))(endpoints.notReadyReason?.())}\n`);
    if (path === '/metrics') {
      void endpoints.metrics.metrics().then((text) => reply(200, text, endpoints.metrics.contentType), (e: unknown) => reply(500, `${(e as Error).message}\n`));
      return undefined;
    }
    if (path === '/status' && endpoints.status) {
      // ?object=NAMESPACE/NAME: that one status, not all of them (a poller of one environment costs one, not N).
      const all = endpoints.status() as Record<string, unknown>;
      const one = url.searchParams.get('object');
      return reply(200, `${JSON.stringify(one === null ? all : { [one]: all[one] }, null, 2)}\n`, 'application/json');
    }
    return reply(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve());
  });
  const address = server.address() as { address: string; port: number };
  const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
  return { server, url: `http://${shown === '0.0.0.0' ? '127.0.0.1' : shown}:${address.port}` };
}
