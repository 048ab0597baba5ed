/** A clock the test moves by hand (the work queue's timers): no sleeps, and a resync fires only when the test says so. */
import type { Clock } from '../../src/controller/work-queue.js';

export function manualClock(start = 0) {
  let now = start;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const t = { at: now + ms, fn, id: ++ids };
      timers.push(t);
      return t.id;
    },
    clearTimeout: (id) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  /** Moves time on, fires the timers due in order, then lets their callbacks' promises start. */
  const advance = async (ms: number) => {
    now += ms;
    for (const t of timers.filter((x) => x.at <= now).sort((a, b) => a.at - b.at)) {
      timers.splice(timers.indexOf(t), 1);
      t.fn();
    }
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { clock, advance, pending: () => timers.map((t) => t.at - now).sort((a, b) => a - b) };
}
