/**
 * `plan -o markdown`: the plan as a pull-request comment. A hidden marker first (a workflow finds and
 * updates its own comment by it), a summary table per environment, then each environment's actions in a
 * collapsed `<details>`; cut at GitHub's comment limit with a line saying what was cut. Secret-free as
 * the text plan is: only names, field changes, messages and the command that adds an external secret.
 */
import type { ReconcileReport } from '../engine/reconcile.js';
import { hasChanges, isInSync, type Action } from '../plan/types.js';
import { readyLine, summaryLine } from './plan-output.js';
import { codeCell, commentMarker, cutToLimit, details, escapeCell, escapeText, GITHUB_COMMENT_LIMIT, table } from './markdown.js';

/** The hidden line of a plan comment: `<!-- jobmatch-operator:plan -->`. */
export const PLAN_MARKER = commentMarker('plan');

const TITLE = '### jobmatch-operator plan';

const VERB_LABEL: Record<Action['verb'], string> = {
  create: '➕ create', update: '✏️ update', adopt: '🔗 adopt', delete: '🗑️ delete', none: 'none',
  conflict: '⛔ conflict', pending: '⏳ pending', orphan: '❔ orphan', error: '⛔ error',
};

const show = (v: unknown) => (v === null || v === undefined ? '(none)' : typeof v === 'object' || typeof v === 'string' ? JSON.stringify(v) : String(v));

/** What one environment's plan comes to, in a few words (the summary table's last column). */
function result(report: ReconcileReport): string {
  const { plan } = report;
  if (plan.suspended) return 'suspended: nothing observed';
  const s = plan.summary;
  const parts = [
    s.error ? `${s.error} failed to read` : '', s.conflict ? `${s.conflict} in conflict` : '',
    hasChanges(plan) ? (plan.reportOnly ? 'drift reported (policy.drift Report: never healed)' : 'changes to apply') : '',
    s.orphan ? `${s.orphan} orphaned` : '', report.cancelled ? 'cancelled (deadline)' : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : `in sync${s.pending ? ', secrets waiting for a value' : ''}`;
}

function summaryTable(reports: readonly ReconcileReport[]): string {
  const rows = reports.map((r) => {
    const s = r.plan.summary;
    return [codeCell(r.environment), codeCell(r.project), ...[s.create, s.update, s.adopt, s.delete, s.conflict, s.pending].map(String), escapeCell(result(r))];
  });
  return table(['environment', 'project', 'create', 'update', 'adopt', 'delete', 'conflict', 'pending secrets', 'result'], rows,
    ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left']);
}

/** The changes cell of one action: a line per field, then its message, the command a person runs, its warnings. */
function changesCell(a: Action): string {
  const lines = a.changes.map((c) => `${codeCell(c.field)}: ${codeCell(show(c.before))} → ${codeCell(show(c.after))}`);
  if (a.message) lines.push(escapeCell(a.message));
  if (a.pending) lines.push(`no enabled version: a person adds one with ${codeCell(a.pending)}`);
  for (const w of a.warnings ?? []) lines.push(`⚠️ ${escapeCell(w)}`);
  return lines.join('<br>');
}

const ACTION_HEADERS = ['verb', 'kind', 'name', 'changes'];
const actionRow = (a: Action) => [VERB_LABEL[a.verb], escapeCell(a.kind), codeCell(a.name), changesCell(a)];

/** One environment's collapsed block; its actions table loses rows from the end (said in a last line) to stay within `budget`. */
function environmentSection(report: ReconcileReport, budget: number): string {
  const { plan } = report;
  const head = `${report.environment} (${report.namespace}/${report.name}, project ${report.project}): ${summaryLine(plan).replace(/^Plan: /, '')}`;
  const notes: string[] = [];
  if (plan.reportOnly && hasChanges(plan)) notes.push('`policy.drift` is `Report`: drift is reported, never healed.');
  for (const [what, why] of Object.entries(report.observeErrors).filter(([k]) => k.startsWith('labelled/'))) {
    notes.push(`⚠️ could not list ${escapeText(what.slice('labelled/'.length))}s for orphans: ${escapeText(why)}`);
  }
  const ready = escapeText(readyLine(plan));
  if (plan.suspended) return details(head, ['`policy.suspend` is on: nothing observed, nothing changed.', ready].join('\n\n'));
  const shown = plan.actions.filter((a) => a.verb !== 'none');
  if (shown.length === 0) return details(head, ['No changes: the environment matches its manifest.', ...notes, ready].join('\n\n'));
  const body = (rows: Action[], omitted: number) => [
    table(ACTION_HEADERS, rows.map(actionRow)),
    ...(omitted ? [`_${omitted} more action${omitted === 1 ? '' : 's'} of this environment omitted to stay within GitHub's comment limit; run \`plan\` locally for all of them._`] : []),
    ...notes, ready,
  ].join('\n\n');
  let rows = shown;
  let section = details(head, body(rows, 0));
  // Rarely needed (hundreds of actions): drop rows by estimate, then one at a time.
  while (section.length > budget && rows.length > 0) {
    const over = section.length - budget;
    const average = section.length / rows.length;
    rows = rows.slice(0, Math.max(0, Math.min(rows.length - 1, rows.length - Math.ceil(over / average))));
    section = details(head, body(rows, shown.length - rows.length));
  }
  return section;
}

function headline(reports: readonly ReconcileReport[], deadline?: { timeoutSeconds: number }): string {
  const n = reports.length;
  const conflicted = reports.filter((r) => r.plan.summary.conflict > 0 || r.plan.summary.error > 0).length;
  const changing = reports.filter((r) => hasChanges(r.plan)).length;
  const lines = [
    n === 0 ? 'No environment was planned.'
      : reports.every((r) => isInSync(r.plan)) ? `All ${n} environment${n === 1 ? ' is' : 's are'} in sync with ${n === 1 ? 'its' : 'their'} manifest${n === 1 ? '' : 's'}: nothing to apply.`
        : `${changing} of ${n} environment${n === 1 ? '' : 's'} with changes to apply after merge${conflicted ? `; **${conflicted} in conflict or failing**: the check fails until ${conflicted === 1 ? 'it is' : 'they are'} resolved` : ''}.`,
  ];
  if (deadline) lines.push(`**Stopped:** the run's deadline (\`--timeout ${deadline.timeoutSeconds}s\`) passed before it finished; what was not done is marked cancelled.`);
  return lines.join('\n\n');
}

/** The plan of every environment as one GitHub comment of at most `limit` characters. */
export function renderPlanMarkdown(reports: readonly ReconcileReport[], options: { deadline?: { timeoutSeconds: number }; limit?: number } = {}): string {
  const limit = options.limit ?? GITHUB_COMMENT_LIMIT;
  const head = [PLAN_MARKER, TITLE, headline(reports, options.deadline), summaryTable(reports)].join('\n\n');
  // Each environment may use what is left after the summary and the cut's note (≈ 200 characters).
  const budget = Math.max(0, limit - head.length - 400);
  const sections = [head, ...reports.map((r) => environmentSection(r, budget))];
  return `${cutToLimit(sections, limit, 'environment').markdown}\n`;
}

/** The comment of a run that could not plan (bad flags, invalid manifests, no credentials, endpoint unreachable). */
export function renderPlanMarkdownError(message: string): string {
  return `${[PLAN_MARKER, TITLE, `**The plan could not run:** ${escapeText(message)}`].join('\n\n')}\n`;
}
