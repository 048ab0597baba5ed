/** The action log: one JSON line per observation and per action (pino). Secret values never reach it: no field carries one. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type ActionLogger = Logger;

/** Cloud Logging's LogSeverity for each pino level: GKE's agent reads `severity` from a JSON line (else INFO, or ERROR on stderr). */
export const SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

/**
 * Not a pino level: warnings and errors, and at info only the write actions executed (`event: action`, a create,
 * update, adopt or delete that was carried out), never the observations or the planned actions. The default of
 * plan and apply when stderr is a pipe: a pipeline's log holds what went wrong and what was changed, nothing else.
 */
export const WRITES_LEVEL = 'writes';

const WRITE_VERBS = new Set(['create', 'update', 'adopt', 'delete']);
const isWrite = (entry: unknown): boolean => {
  const e = entry as { event?: unknown; verb?: unknown; outcome?: unknown } | null;
  return typeof e === 'object' && e !== null && e.event === 'action' && WRITE_VERBS.has(String(e.verb)) && (e.outcome === 'ok' || e.outcome === 'cancelled');
};

/**
 * The action log's level for plan and apply when --log-level is not given: info into a --log-file (asked for), warn on
 * a terminal (the human report says the rest), else (a pipe, CI, a GitOps job) warnings, errors and the writes.
 */
export function defaultActionLogLevel(stream: { stderrTty: boolean; logFile: boolean }): string {
  if (stream.logFile) return 'info';
  return stream.stderrTty ? 'warn' : WRITES_LEVEL;
}

export function createActionLogger(destination: DestinationStream | NodeJS.WritableStream = process.stderr, level = 'info'): ActionLogger {
  const writesOnly = level === WRITES_LEVEL;
  return pino({
    base: { app: 'jobmatch-operator' }, level: writesOnly ? 'info' : level, timestamp: pino.stdTimeFunctions.isoTime,
    ...(writesOnly ? {
      hooks: {
        logMethod(args, method, number) {
          if (number >= pino.levels.values.warn! || isWrite(args[0])) method.apply(this, args);
        },
      },
    } : {}),
    // pino's numeric level stays for its own tools; severity is added beside it.
    formatters: { level: (label, number) => ({ level: number, severity: SEVERITY[label] ?? 'DEFAULT' }) },
  }, destination as DestinationStream);
}

/** A logger that drops everything (library use without a log). */
export const silentLogger = (): ActionLogger => pino({ level: 'silent' });
