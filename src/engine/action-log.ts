/** The action log: one JSON line per observation and per action (pino). Secret values never reach it: no field carries one. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type ActionLogger = Logger;

/** Cloud Logging's LogSeverity for each pino level: GKE's agent reads `severity` from a JSON line (else INFO, or ERROR on stderr). */
export const SEVERITY: Record<string, string> = { trace: 'DEBUG', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

export function createActionLogger(destination: DestinationStream | NodeJS.WritableStream = process.stderr, level = 'info'): ActionLogger {
  return pino({
    base: { app: 'jobmatch-operator' }, level, timestamp: pino.stdTimeFunctions.isoTime,
    // pino's numeric level stays for its own tools; severity is added beside it.
    formatters: { level: (label, number) => ({ level: number, severity: SEVERITY[label] ?? 'DEFAULT' }) },
  }, destination as DestinationStream);
}

/** A logger that drops everything (library use without a log). */
export const silentLogger = (): ActionLogger => pino({ level: 'silent' });
