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

/** Fields a text line shows in its own place, or not at all. */
const TEXT_SKIPPED = new Set(['app', 'level', 'severity', 'time', 'msg', 'object']);

/**
 * The action log for a person at a terminal (`run --log-format text`): each JSON line becomes
 * `TIME SEVERITY [object] message key=value ...`; a line that is not JSON passes through.
 */
export function textLines(write: (text: string) => void): (line: string) => void {
  return (chunk: string) => {
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        write(`${line}\n`);
        continue;
      }
      const rest = Object.entries(entry).filter(([k]) => !TEXT_SKIPPED.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
      const head = [entry.time, String(entry.severity ?? '').padEnd(7), entry.object ? `[${String(entry.object)}]` : undefined, entry.msg].filter((x) => x !== undefined && x !== '');
      write(`${[...head, ...rest].join(' ')}\n`);
    }
  };
}
