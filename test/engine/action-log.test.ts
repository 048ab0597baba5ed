/** The action log as Cloud Logging reads it on GKE: a `severity` on every JSON line, pino's own fields kept. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createActionLogger, textLines } from '../../src/engine/action-log.js';

describe('the action log', () => {
  it('carries Cloud Logging\'s severity beside pino\'s level, message and time', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _encoding, done) => { lines.push(String(chunk)); done(); } });
    const log = createActionLogger(sink, 'debug');
    log.debug('d');
    log.info({ event: 'action' }, 'i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((l) => l.severity)).toEqual(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
    expect(parsed.map((l) => l.level)).toEqual([20, 30, 40, 50, 60]);
    expect(parsed[1]).toMatchObject({ app: 'jobmatch-operator', event: 'action', msg: 'i', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('reads as text for a person with --log-format text: time, severity, object, message, then the other fields', () => {
    let out = '';
    const log = createActionLogger({ write: textLines((t) => (out += t)) } as unknown as NodeJS.WritableStream, 'info');
    log.warn({ object: 'jobmatch/staging', event: 'watch', retryInMs: 2000, error: 'the CRD is missing' }, 'the watch failed');
    expect(out).toMatch(/^\d{4}-\d\d-\d\dT\S+ WARNING \[jobmatch\/staging\] the watch failed event=watch retryInMs=2000 error="the CRD is missing"\n$/);
  });
});
