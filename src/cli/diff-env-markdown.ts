/** `diff-env -o markdown`: the parity report as a pull-request comment (GitHub-flavoured, built with markdown.ts). Pure. */
import { PARITY_GROUPS, type ParityDifference, type ParityReport, type ParityValue } from '../plan/parity.js';
import { codeCell, commentMarker, cutToLimit, details, escapeCell, inlineCode, table, GITHUB_COMMENT_LIMIT } from './markdown.js';

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const cell = (v: ParityValue) => (v === null ? '—' : codeCell(typeof v === 'string' ? v : String(v)));

/** The report as markdown: a hidden marker, the verdict, a summary table, then each group's differences in a <details>. */
export function renderParityMarkdown(report: ParityReport, source: 'manifests' | 'observed', limit = GITHUB_COMMENT_LIMIT): string {
  const { unexpected, expected } = report.summary;
  const verdict = unexpected === 0
    ? `**Same shape**${expected > 0 ? `, apart from ${plural(expected, 'expected difference')}` : ''}.`
    : `**${plural(unexpected, 'difference')}**${expected > 0 ? ` (and ${expected} expected)` : ''}: not the same shape.`;
  const groups = PARITY_GROUPS.map((g) => [g, report.differences.filter((d) => d.group === g)] as const).filter(([, ds]) => ds.length > 0);
  const head = [
    commentMarker('diff-env'),
    `### Parity: ${inlineCode(report.a)} and ${inlineCode(report.b)} (${source === 'observed' ? 'what GCP holds for each' : 'their manifests'})`,
    verdict,
    ...(groups.length > 0 ? [table(['group', 'differences', 'expected'], groups.map(([g, ds]) => [
      escapeCell(g), String(ds.filter((d) => !d.expected).length), String(ds.filter((d) => d.expected).length),
    ]), ['left', 'right', 'right'])] : []),
  ].join('\n\n');
  const sections = groups.map(([g, ds]) => details(
    `${g}: ${plural(ds.filter((d) => !d.expected).length, 'difference')}, ${ds.filter((d) => d.expected).length} expected`,
    table(['path', escapeCell(report.a), escapeCell(report.b), 'expected'], ds.map((d: ParityDifference) => [
      codeCell(d.path), cell(d.a), cell(d.b), d.expected ? escapeCell(`yes (${d.expected.declaredBy}): ${d.expected.reason}`) : '',
    ])),
    { open: ds.some((d) => !d.expected) },
  ));
  return `${cutToLimit([head, ...sections], limit, 'group').markdown}\n`;
}
