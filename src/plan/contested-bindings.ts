/** Bindings that one environment wants present and another absent on the same policy: a conflict for both, never a flip-flop. Pure. */
import type { ResolvedSpec } from '../api/defaults.js';
import { desiredBindings, type DesiredBinding } from './desired.js';
import type { KindPlanner } from './kind-planner.js';

export const bindingKey = (b: Pick<DesiredBinding, 'target' | 'role' | 'member'>) => `${JSON.stringify(b.target)} ${b.role} ${b.member}`;

/** Binding key → why it is contested, for every binding some spec wants present and another absent. */
export function contestedBindings(specs: ResolvedSpec[], kinds: readonly KindPlanner[]): Map<string, string> {
  const wants = new Map<string, { present: string[]; absent: string[] }>();
  for (const spec of specs) {
    for (const b of desiredBindings(spec, kinds)) {
      const key = bindingKey(b);
      const entry = wants.get(key) ?? { present: [], absent: [] };
      entry[b.ensure].push(spec.environment);
      wants.set(key, entry);
    }
  }
  const contested = new Map<string, string>();
  for (const [key, { present, absent }] of wants) {
    if (present.length > 0 && absent.length > 0) {
      contested.set(key, `environment(s) ${present.join(', ')} want this binding present and ${absent.join(', ')} absent: nothing is written until the manifests agree`);
    }
  }
  return contested;
}
