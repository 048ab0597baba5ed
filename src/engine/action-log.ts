/** The action log: one JSON line per observation and per action (pino). Secret values never reach it: no field carries one. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type ActionLogger = Logger;

export function createActionLogger(destination: DestinationStream | NodeJS.WritableStream = process.stderr, level = 'info'): ActionLogger {
  return pino({ base: { app: 'jobmatch-operator' }, level, timestamp: pino.stdTimeFunctions.isoTime }, destination as DestinationStream);
}

/** A logger that drops everything (library use without a log). */
export const silentLogger = (): ActionLogger => pino({ level: 'silent' });
