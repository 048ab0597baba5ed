/**
 * A LeaderElector in a process of its own whose wall clock is off by <skewMs>, as on a machine whose
 * clock is wrong: Date and Date.now are shifted before anything else loads, the monotonic clock is
 * not (nor is it on such a machine). For test/controller/leader-clock-skew.test.ts.
 *
 *   node --import tsx test/support/skewed-elector.ts <kubeconfig> <namespace> <lease> <identity> <skewMs> <leaseSeconds> <renewDeadlineMs> <retryMs>
 *
 * Prints one JSON line per event on stdout, `at` in milliseconds of CLOCK_MONOTONIC (process.hrtime,
 * the same clock in every process of the machine): {"event":"ready"} once the elector runs,
 * {"event":"started"} / {"event":"stopped"} when it starts or stops leading, {"event":"exit"} after a
 * SIGTERM stopped it (and released the Lease). Logs go to stderr. Exits when its stdin closes, so it
 * never outlives the test that spawned it.
 */
const [kubeconfig, namespace, name, identity, skew, leaseSeconds, renewDeadline, retry] = process.argv.slice(2);
if (retry === undefined) throw new Error('usage: skewed-elector.ts <kubeconfig> <namespace> <lease> <identity> <skewMs> <leaseSeconds> <renewDeadlineMs> <retryMs>');
const skewMs = Number(skew);

const RealDate = Date;
class SkewedDate extends RealDate {
  constructor(...args: unknown[]) {
    if (args.length === 0) super(RealDate.now() + skewMs);
    else super(...(args as [string | number | Date]));
  }
  static override now(): number {
    return RealDate.now() + skewMs;
  }
}
globalThis.Date = SkewedDate as DateConstructor;

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;
const emit = (event: string, extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, at: monotonicMs(), ...extra })}\n`);

// Loaded only now, so that nothing captured the real Date first.
const k8s = await import('@kubernetes/client-node');
const { LeaderElector } = await import('../../src/controller/leader-election.js');
const { createActionLogger } = await import('../../src/engine/action-log.js');

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig!);
const elector = new LeaderElector(kc, {
  namespace: namespace!, name: name!, identity: identity!, logger: createActionLogger(process.stderr, 'info'),
  leaseDurationSeconds: Number(leaseSeconds), renewDeadlineMs: Number(renewDeadline), retryPeriodMs: Number(retry),
  onStartedLeading: () => emit('started'),
  onStoppedLeading: () => emit('stopped'),
});

process.stdin.on('close', () => process.exit(2));
process.stdin.resume();
process.on('SIGTERM', () => {
  const leading = elector.isLeader;
  void elector.stop().then(() => {
    if (leading) emit('stopped', { why: 'SIGTERM' });
    emit('exit');
    process.exit(0);
  });
});
elector.start();
emit('ready', { wallClockSkewMs: Date.now() - RealDate.now() });
