/** The action log as Cloud Logging reads it on GKE: a `severity` on every JSON line, pino's own fields kept. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createActionLogger } from '../../src/engine/action-log.js';

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
});
