/**
 * A real, throwaway Kubernetes control plane for tests (test infrastructure, envtest-style): etcd
 * and kube-apiserver (built by ./assets.ts) on free loopback ports, a temp directory for etcd's
 * data, certificates, tokens and logs. No kubelet, no controller-manager: namespaces never finish
 * terminating and ownerReference garbage collection does not run (use a fresh namespace per test).
 *
 *   const kube = await startKube();          // in beforeAll (allow ~30 min there for a first build)
 *   kube.kubeconfig.makeApiClient(k8s.CustomObjectsApi) …
 *   await kube.stop();                       // in afterAll
 *
 * Authentication: bearer tokens from a --token-auth-file (the users in KUBE_USERS), client
 * certificates for any user and groups (kubeConfigFor), and ServiceAccount tokens through the
 * TokenRequest API (serviceAccountToken). Authorization: RBAC (the admin is in system:masters).
 * Every process is started by this module and stopped by its PID: by stop(), by an exit handler
 * of this process, and by the kernel (setpriv --pdeathsig) should this process die without one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
// Not re-exported by the package's index: the generated models' (de)serializer.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { parseAllDocuments } from 'yaml';
import { ensureKubeAssets, type KubeAssets, type KubeAssetsOptions } from './assets.js';

/** A user of the --token-auth-file (authenticated by `Authorization: Bearer <token>`). */
export interface KubeUser {
  name: string;
  token: string;
  /** Besides system:authenticated, which the apiserver adds to every user. */
  groups: string[];
}

/** The predefined token users: `admin` (system:masters: everything), `jobmatch-operator` (no group: only what RBAC grants it). */
export const KUBE_USERS = ['admin', 'jobmatch-operator'] as const;
export type KubeUserName = (typeof KUBE_USERS)[number];

export interface Kube {
  /** https://127.0.0.1:<port> (the same port across restart()). */
  url: string;
  /** http://127.0.0.1:<port>: etcd's client URL. */
  etcdUrl: string;
  /** A kubeconfig file for the admin (token auth, the cluster CA embedded), e.g. for kubectl --kubeconfig. */
  kubeconfigPath: string;
  /** The admin's KubeConfig (system:masters). */
  kubeconfig: k8s.KubeConfig;
  adminToken: string;
  /** PEM file of the CA that signed the serving certificate and the client certificates. */
  caPath: string;
  /** The predefined token users, by name. */
  users: Record<KubeUserName, KubeUser>;
  /** The bearer token of a predefined user (throws for another name: use kubeConfigFor with groups). */
  tokenFor(user: KubeUserName): string;
  /**
   * A KubeConfig authenticating as `user`: a predefined user's token when groups is undefined and
   * the user is predefined, else a client certificate (CN=user, O=each group) signed by the cluster CA.
   */
  kubeConfigFor(user: string, groups?: string[]): Promise<k8s.KubeConfig>;
  /** A KubeConfig sending this bearer token (e.g. a ServiceAccount token). */
  kubeConfigForToken(token: string, name?: string): k8s.KubeConfig;
  /**
   * A ServiceAccount token from the TokenRequest API (system:serviceaccount:<namespace>:<name>);
   * the namespace and the ServiceAccount are created when missing.
   */
  serviceAccountToken(namespace: string, name: string, options?: { expirationSeconds?: number; audiences?: string[] }): Promise<string>;
  /** The PIDs of the running processes (the apiserver's changes on restart()). */
  pids(): { apiserver: number | undefined; etcd: number | undefined };
  /** The last lines of each process's log, for failure messages. */
  logs(lines?: number): { apiserver: string; etcd: string };
  /** The binaries used. */
  assets: KubeAssets;
  /** Stops the apiserver (SIGTERM) and starts it again on the same etcd, port and credentials; resolves when /readyz is ok. */
  restart(): Promise<void>;
  /** SIGTERM the apiserver, then etcd (SIGKILL after a grace period), by their PIDs; removes the temp directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartKubeOptions extends KubeAssetsOptions {
  /** How long to wait for etcd's /health and the apiserver's /readyz (default 60 s each). */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (appended; a later flag wins). */
  apiserverFlags?: string[];
  /** Keep the temp directory (logs, etcd data) after stop() and print its path. Default: KUBE_KEEP_DIR=1. */
  keepDir?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Processes: started here, stopped by PID.

interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  logPath: string;
  exited: Promise<number | string | null>;
  done: boolean;
}

const live = new Set<Proc>();
/** Temp directories of clusters not stopped yet (removed at exit when stop() did not run). */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' runs synchronous code only: SIGKILL whatever stop() did not get to.
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // a process still writing into it: leave it
      }
    }
  });
}

const hasSetpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function startProcess(name: string, binary: string, args: string[], logPath: string): Proc {
  installExitHook();
  const log = openSync(logPath, 'a');
  // setpriv execs the binary (same PID) with PR_SET_PDEATHSIG: the kernel kills it if this process dies.
  const [command, argv] = hasSetpriv ? [hasSetpriv, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
  let child: ChildProcess;
  try {
    child = spawn(command, argv, { detached: false, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) throw new Error(`could not start ${name} (${binary})`);
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    logPath,
    done: false,
    exited: new Promise((resolve) => {
      child.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        proc.done = true;
        live.delete(proc);
        resolve(code ?? signal);
      });
    }),
  };
  live.add(proc);
  return proc;
}

async function stopProcess(proc: Proc | undefined, graceMs = 15_000): Promise<void> {
  if (!proc || proc.done) return;
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    proc.exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await proc.exited;
  }
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Ports, certificates, readiness.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error('openssl is not installed: the test cluster\'s certificates are made with it (apt-get install openssl)') : e));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`openssl ${args.join(' ')} failed with exit ${code}:\n${stderr}`))));
  });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A key and a certificate signed by the CA in dir (ca.crt, ca.key); subject like /CN=x/O=y. */
async function issueCertificate(dir: string, base: string, subject: string, extensions: string[]): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${base}.key`);
  const cert = join(dir, `${base}.crt`);
  const csr = join(dir, `${base}.csr`);
  const ext = join(dir, `${base}.ext`);
  writeFileSync(ext, `${['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions].join('\n')}\n`);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', key, '-subj', subject, '-out', csr], dir);
  await openssl(['x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '3650', '-extfile', ext, '-out', cert], dir);
  rmSync(csr);
  rmSync(ext);
  return { cert, key };
}

/** An openssl subject: / and \ escaped in each value. */
function subjectOf(user: string, groups: string[]): string {
  const esc = (s: string) => s.replace(/[\\/]/g, (c) => `\\${c}`);
  return `/CN=${esc(user)}${groups.map((g) => `/O=${esc(g)}`).join('')}`;
}

interface Probe {
  status: number;
  body: string;
}

function get(url: string, ca?: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method: 'GET', timeout: 5000, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(proc: Proc, url: string, ok: (p: Probe) => boolean, timeoutMs: number, ca?: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    if (proc.done) throw new Error(`${proc.name} exited before it was ready (${url}); the end of ${proc.logPath}:\n${tail(proc.logPath, 40)}`);
    try {
      const p = await get(url, ca);
      if (ok(p)) return;
      last = `HTTP ${p.status}: ${p.body.slice(0, 2000)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (performance.now() > deadline) {
      throw new Error(`${proc.name} not ready after ${timeoutMs / 1000} s (${url}: ${last}); the end of ${proc.logPath}:\n${tail(proc.logPath, 40)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------

function kubeConfigOf(url: string, caPem: string, user: k8s.User, namespace = 'default'): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'jobmatch-test', server: url, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [user],
    contexts: [{ name: `${user.name}@jobmatch-test`, cluster: 'jobmatch-test', user: user.name, namespace }],
    currentContext: `${user.name}@jobmatch-test`,
  });
  return kc;
}

function isConflict(e: unknown): boolean {
  return e instanceof k8s.ApiException && e.code === 409;
}

/**
 * Starts etcd and kube-apiserver (building them first when the cache lacks them: see
 * ensureKubeAssets) and resolves once /readyz answers ok. On failure everything started is stopped.
 */
export async function startKube(options: StartKubeOptions = {}): Promise<Kube> {
  const assets = await ensureKubeAssets(options);
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const keepDir = options.keepDir ?? process.env.KUBE_KEEP_DIR === '1';
  const dir = mkdtempSync(join(tmpdir(), 'jobmatch-kube-'));
  if (!keepDir) liveDirs.add(dir);
  installExitHook();
  let etcd: Proc | undefined;
  let apiserver: Proc | undefined;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopProcess(apiserver);
    await stopProcess(etcd);
    if (keepDir) process.stderr.write(`test kube: kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  };

  try {
    // Credentials: a CA signing the serving and client certificates, tokens, ServiceAccount keys.
    const pki = join(dir, 'pki');
    mkdirSync(pki);
    await openssl(['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=jobmatch-test-ca', '-days', '3650'], pki);
    const serving = await issueCertificate(pki, 'apiserver', '/CN=kube-apiserver',
      ['extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    const caPath = join(pki, 'ca.crt');
    const caPem = readFileSync(caPath, 'utf8');
    const sa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(pki, 'sa.key'), sa.privateKey.export({ type: 'sec1', format: 'pem' }));
    writeFileSync(join(pki, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    const users = {
      admin: { name: 'admin', token: randomBytes(24).toString('hex'), groups: ['system:masters'] },
      'jobmatch-operator': { name: 'jobmatch-operator', token: randomBytes(24).toString('hex'), groups: [] },
    } satisfies Record<KubeUserName, KubeUser>;
    writeFileSync(join(pki, 'tokens.csv'),
      Object.values(users).map((u) => `${u.token},${u.name},${u.name}${u.groups.length ? `,"${u.groups.join(',')}"` : ''}`).join('\n') + '\n',
      { mode: 0o600 });

    // etcd.
    const [etcdPort, peerPort, apiPort] = await distinctFreePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    etcd = startProcess('etcd', assets.etcd, [
      '--name=jobmatch-test', `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=jobmatch-test=${peerUrl}`, '--initial-cluster-state=new',
      '--unsafe-no-fsync', '--log-level=warn',
    ], join(dir, 'etcd.log'));
    await waitReady(etcd, `${etcdUrl}/health`, (p) => p.status === 200 && /"health"\s*:\s*"true"/.test(p.body), readyTimeoutMs);

    // kube-apiserver.
    const url = `https://127.0.0.1:${apiPort}`;
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1', `--secure-port=${apiPort}`,
      // A loopback advertise address is refused unless the endpoint reconciler is off.
      '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
      `--cert-dir=${join(dir, 'certs')}`, `--tls-cert-file=${serving.cert}`, `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${caPath}`, `--token-auth-file=${join(pki, 'tokens.csv')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--service-account-issuer=https://localhost',
      `--service-account-key-file=${join(pki, 'sa.pub')}`, `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--authorization-mode=RBAC',
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--profiling=false',
      ...(options.apiserverFlags ?? []),
    ];
    const apiserverLog = join(dir, 'apiserver.log');
    const startApiserver = async () => {
      apiserver = startProcess('kube-apiserver', assets.kubeApiserver, apiserverArgs, apiserverLog);
      await waitReady(apiserver, `${url}/readyz`, (p) => p.status === 200, readyTimeoutMs, caPem);
    };
    await startApiserver();

    const kubeconfig = kubeConfigOf(url, caPem, { name: 'admin', token: users.admin.token });
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfig.exportConfig(), { mode: 0o600 });
    let certUsers = 0;

    const kube: Kube = {
      url,
      etcdUrl,
      kubeconfigPath,
      kubeconfig,
      adminToken: users.admin.token,
      caPath,
      users,
      assets,
      tokenFor(user) {
        const u = (users as Record<string, KubeUser>)[user];
        if (!u) throw new Error(`no token user "${user}" (there are ${KUBE_USERS.join(', ')}): use kubeConfigFor(user, groups) for others`);
        return u.token;
      },
      async kubeConfigFor(user, groups) {
        const predefined = (users as Record<string, KubeUser>)[user];
        if (predefined && groups === undefined) return kubeConfigOf(url, caPem, { name: user, token: predefined.token });
        const { cert, key } = await issueCertificate(pki, `user-${++certUsers}`, subjectOf(user, groups ?? []), ['extendedKeyUsage=clientAuth']);
        return kubeConfigOf(url, caPem, {
          name: user,
          certData: readFileSync(cert).toString('base64'),
          keyData: readFileSync(key).toString('base64'),
        });
      },
      kubeConfigForToken(token, name = 'token-user') {
        return kubeConfigOf(url, caPem, { name, token });
      },
      async serviceAccountToken(namespace, name, opts = {}) {
        const core = kubeconfig.makeApiClient(k8s.CoreV1Api);
        await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((e: unknown) => {
          if (!isConflict(e)) throw e;
        });
        await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch((e: unknown) => {
          if (!isConflict(e)) throw e;
        });
        const tr = await core.createNamespacedServiceAccountToken({
          namespace,
          name,
          body: { spec: { expirationSeconds: opts.expirationSeconds ?? 3600, audiences: opts.audiences ?? [] } },
        });
        const token = tr.status?.token;
        if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
        return token;
      },
      pids: () => ({ apiserver: apiserver && !apiserver.done ? apiserver.pid : undefined, etcd: etcd && !etcd.done ? etcd.pid : undefined }),
      logs: (lines = 60) => ({ apiserver: tail(apiserverLog, lines), etcd: tail(join(dir, 'etcd.log'), lines) }),
      async restart() {
        if (stopped) throw new Error('restart() after stop()');
        await stopProcess(apiserver);
        await startApiserver();
      },
      stop,
    };
    return kube;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** n different free loopback ports. */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/**
 * Creates (or, when it exists, replaces) every CustomResourceDefinition in the YAML file at path,
 * as the admin, and resolves with them once each is Established (and its names accepted).
 */
export async function applyCrd(kube: Pick<Kube, 'kubeconfig'>, path: string, options: { timeoutMs?: number } = {}): Promise<k8s.V1CustomResourceDefinition[]> {
  const api = kube.kubeconfig.makeApiClient(k8s.ApiextensionsV1Api);
  const docs = parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as { kind?: string } | null)
    .filter((d) => d?.kind === 'CustomResourceDefinition')
    // Through the client's model names (_default, _enum, x_kubernetes_validations ...), which it turns back into
    // the wire names when it sends: a raw object's default, enum and x-kubernetes-* keys would be dropped.
    .map((d) => ObjectSerializer.deserialize(d, 'V1CustomResourceDefinition', '') as k8s.V1CustomResourceDefinition);
  if (docs.length === 0) throw new Error(`no CustomResourceDefinition in ${path}`);
  const deadline = performance.now() + (options.timeoutMs ?? 30_000);
  const out: k8s.V1CustomResourceDefinition[] = [];
  for (const crd of docs) {
    const name = crd.metadata?.name;
    if (!name) throw new Error(`a CustomResourceDefinition in ${path} has no metadata.name`);
    try {
      await api.createCustomResourceDefinition({ body: crd });
    } catch (e) {
      if (!isConflict(e)) throw e;
      const current = await api.readCustomResourceDefinition({ name });
      await api.replaceCustomResourceDefinition({ name, body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    }
    for (;;) {
      const got = await api.readCustomResourceDefinition({ name });
      const cond = (type: string) => got.status?.conditions?.find((c) => c.type === type)?.status === 'True';
      if (cond('Established') && cond('NamesAccepted')) {
        out.push(got);
        break;
      }
      if (performance.now() > deadline) throw new Error(`CRD ${name} not Established after ${(options.timeoutMs ?? 30_000) / 1000} s: ${JSON.stringify(got.status?.conditions)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return out;
}

/** Creates a namespace (a fresh one per test: without a controller-manager, deleted namespaces never go away); 409 is fine. */
export async function createNamespace(kube: Pick<Kube, 'kubeconfig'>, name: string): Promise<string> {
  await kube.kubeconfig.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name } } }).catch((e: unknown) => {
    if (!isConflict(e)) throw e;
  });
  return name;
}
