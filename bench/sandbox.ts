/**
 * Sandbox benchmark (not a test): the sandbox runs in its own process, as in use; this process drives it.
 * Reports the server-side overhead per request (p50/p99, from the sandbox's request log, no injected
 * latency), the round trip seen by a client, and throughput with 64 requests in flight.
 * `npm run bench:sandbox` (add `-- --json` for one JSON object).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PROJECT = 'bench-project';
const ZONE = 'europe-west1-b';
const bin = fileURLToPath(new URL('../bin/jobmatch-operator.js', import.meta.url));
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function call(base: string, method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${base}${path}`, { method, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

/** The reads an in-sync reconcile makes, round-robin. */
const MIX: [string, string][] = [
  ['GET', '/storage/v1/b/bench-bucket'],
  ['GET', '/storage/v1/b/bench-bucket/iam'],
  ['GET', `/bigquery/v2/projects/${PROJECT}/datasets/bench_ds`],
  ['GET', `/v1/projects/${PROJECT}/secrets/bench-secret`],
  ['GET', `/v1/projects/${PROJECT}/secrets/bench-secret/versions`],
  ['POST', `/v3/projects/${PROJECT}:getIamPolicy`],
  ['GET', `/compute/v1/projects/${PROJECT}/zones/${ZONE}/instances/bench-vm`],
];

async function main() {
  const json = process.argv.includes('--json');
  const child = spawn(process.execPath, [bin, 'sandbox', '--port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const base = /listening on (\S+)/.exec(line)![1]!;
  const seed = `projects:\n  - projectId: ${PROJECT}\n    buckets: [{name: bench-bucket}]\n    datasets: [{datasetId: bench_ds}]\n    secrets: [{secretId: bench-secret, versions: [{data: x}]}]\n    instances: [{name: bench-vm, zone: ${ZONE}}]\n`;
  await new Promise<void>((resolve, reject) => {
    const req = request(`${base}/__sandbox/seed`, { method: 'POST', agent }, (res) => (res.resume(), res.on('end', resolve)));
    req.on('error', reject);
    req.end(seed);
  });

  // Sequential: one request in flight, so the figures are the sandbox's own cost.
  const roundTrips: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const [method, path] = MIX[i % MIX.length]!;
    const t = performance.now();
    const status = await call(base, method, path, method === 'POST' ? {} : undefined);
    roundTrips.push(performance.now() - t);
    if (status !== 200) throw new Error(`${method} ${path} → ${status}`);
  }
  const log = await new Promise<{ requests: { durationMs: number }[] }>((resolve, reject) => {
    request(`${base}/__sandbox/requests?limit=1000`, { agent }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject).end();
  });
  const serverSide = log.requests.map((r) => r.durationMs);

  // Concurrent: 64 in flight.
  const total = 20000;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < total) {
      const [method, path] = MIX[next++ % MIX.length]!;
      await call(base, method, path, method === 'POST' ? {} : undefined);
    }
  }));
  const seconds = (performance.now() - started) / 1000;

  const result = {
    requestsSequential: roundTrips.length,
    serverOverheadP50Ms: percentile(serverSide, 50),
    serverOverheadP99Ms: percentile(serverSide, 99),
    roundTripP50Ms: Number(percentile(roundTrips, 50).toFixed(3)),
    roundTripP99Ms: Number(percentile(roundTrips, 99).toFixed(3)),
    throughputRequests: total,
    throughputConcurrency: 64,
    throughputReqPerSec: Math.round(total / seconds),
    node: process.version,
  };
  child.kill('SIGTERM');
  await once(child, 'exit');
  agent.destroy();
  if (json) console.log(JSON.stringify(result));
  else {
    console.log(`sandbox overhead per request (server side): p50 ${result.serverOverheadP50Ms} ms, p99 ${result.serverOverheadP99Ms} ms`);
    console.log(`round trip (client, keep-alive): p50 ${result.roundTripP50Ms} ms, p99 ${result.roundTripP99Ms} ms`);
    console.log(`throughput: ${result.throughputReqPerSec} req/s (${total} requests, ${result.throughputConcurrency} in flight)`);
  }
}

await main();
