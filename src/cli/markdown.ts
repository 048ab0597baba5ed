/**
 * GitHub-flavoured markdown, built safely: plans and parity reports posted as pull-request
 * comments. Pure. Rules followed (CommonMark 0.31 and the GFM spec):
 * - any ASCII punctuation may be backslash-escaped, so text is made literal by escaping the
 *   characters that start markup (`escapeText`);
 * - a table row is split at every pipe not preceded by a backslash, *before* inline parsing, even
 *   inside code spans; `\|` then stands for `|` (GFM "tables extension", example 200). So a cell is
 *   one line, and its pipes are escaped — in code spans too (`codeCell`);
 * - a code span is closed by a backtick run of the same length as its opener: a fence longer than
 *   any run inside, padded with a space when the content starts or ends with a backtick;
 * - `<details>` opens an HTML block that ends at the first blank line: the summary is HTML (not
 *   markdown) and a blank line must separate it, and `</details>`, from the markdown body.
 *
 * Convention: values are shown as code spans (`inlineCode`, `codeCell` in tables); free prose is
 * escaped (`escapeText`, `escapeCell` in tables). Both render the text exactly, backticks included.
 */

/** GitHub's limit on the body of a comment, in characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

// Characters that may start inline markup or an entity, a GitHub mention or reference (`@`, `#`), or math (`$`).
const INLINE_SPECIAL = /[\\`*_[\]<>#|~!&@$]/g;

/** Prose made literal: markup characters backslash-escaped, and line starts that would open a block. */
export function escapeText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(INLINE_SPECIAL, (c) => `\\${c}`)
    .split('\n')
    // Block starts not covered above: indentation (code blocks), list bullets and numbers, setext underlines.
    .map((line) => line.replace(/^\s+/, '').replace(/^[-+=]/, '\\$&').replace(/^(\d{1,9})([.)])/, '$1\\$2'))
    .join('\n');
}

/** A table cell made of prose: escaped, its pipes escaped, its line breaks as `<br>`. */
export function escapeCell(text: string): string {
  // `|` is already backslash-escaped by escapeText; leading block markers mean nothing inside a cell.
  return escapeText(text).split('\n').map((l) => l.trim()).join('<br>');
}

/** A code span holding `text` exactly, whatever backticks it contains (one line: newlines become spaces). */
export function inlineCode(text: string): string {
  const content = text.replace(/\r\n?|\n/g, ' ');
  if (content === '') return '` `';
  const longest = Math.max(0, ...(content.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  // One space each side is stripped by the parser: needed when the content touches a backtick, and
  // to keep content that itself starts and ends with a space (and is not all spaces).
  const pad = content.startsWith('`') || content.endsWith('`') || (/^ .*[^ ].* $/.test(content)) ? ' ' : '';
  return `${fence}${pad}${content}${pad}${fence}`;
}

const HTML_ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

/** Text for a raw HTML context (a `<summary>`, an attribute): entities for `&<>"`. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => HTML_ENTITY[c]!);
}

/** A code span for a table cell: its pipes escaped, as the GFM table rule requires even inside code. */
export function codeCell(text: string): string {
  // A backslash right before a pipe would pair with the escape we add and leave the pipe a separator;
  // such a value is shown as `<code>` holding escaped text instead (the same rendering).
  if (/\\\|/.test(text)) return `<code>${escapeCell(text)}</code>`;
  return inlineCode(text).replace(/\|/g, '\\|');
}

export type Align = 'left' | 'right' | 'center';

/** True when `cell` has a pipe that would split a table row (one not preceded by an odd run of backslashes). */
function hasBarePipe(cell: string): boolean {
  for (let i = 0; i < cell.length; i++) {
    if (cell[i] !== '|') continue;
    let slashes = 0;
    for (let j = i - 1; j >= 0 && cell[j] === '\\'; j--) slashes++;
    if (slashes % 2 === 0) return true;
  }
  return false;
}

/**
 * A GFM table. Cells are markdown already made cell-safe (`escapeCell`, `codeCell`): a cell with a
 * line break or a bare pipe is a programming error and throws, as does a row of the wrong width.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  if (headers.length === 0) throw new Error('a table needs at least one column');
  const check = (cells: readonly string[], where: string) => {
    if (cells.length !== headers.length) throw new Error(`${where} has ${cells.length} cells, the header ${headers.length}`);
    for (const c of cells) {
      if (/[\r\n]/.test(c)) throw new Error(`${where}: a cell holds a line break: ${JSON.stringify(c)}`);
      if (hasBarePipe(c)) throw new Error(`${where}: a cell holds an unescaped pipe: ${JSON.stringify(c)}`);
    }
  };
  check(headers, 'the header');
  rows.forEach((r, i) => check(r, `row ${i + 1}`));
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.trim()).join(' | ')} |`;
  const rule = headers.map((_, i) => ({ left: ':---', right: '---:', center: ':---:' })[align[i] ?? 'left'] ?? '---');
  return [line(headers), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** A collapsed block: the summary is plain text (shown as HTML), the body markdown, with the blank lines GitHub needs. */
export function details(summary: string, body: string, options: { open?: boolean } = {}): string {
  const summaryLine = escapeHtml(summary).replace(/\r\n?|\n/g, ' ');
  return `<details${options.open ? ' open' : ''}>\n<summary>${summaryLine}</summary>\n\n${body.trim()}\n\n</details>`;
}

/** The hidden line a workflow finds its own comment by, e.g. `<!-- jobmatch-operator:plan -->`. */
export function commentMarker(kind: string): string {
  // Lowercase words and single hyphens: nothing that could end or break an HTML comment.
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(kind)) throw new Error(`a comment marker kind is lowercase words joined by single hyphens: ${JSON.stringify(kind)}`);
  return `<!-- jobmatch-operator:${kind} -->`;
}

/**
 * Top-level blocks of a markdown document: split at blank lines, but never inside a fenced code
 * block or an HTML `<details>` element (which holds blank lines of its own).
 */
export function topLevelBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let current: string[] = [];
  let fence: string | undefined;
  let depth = 0;
  for (const line of markdown.replace(/\r\n?/g, '\n').split('\n')) {
    if (fence) {
      if (new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(line)) fence = undefined;
    } else if (depth === 0 && line.trim() === '') {
      if (current.length) blocks.push(current.join('\n'));
      current = [];
      continue;
    } else {
      const opened = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (opened) fence = opened[1];
      depth += (line.match(/<details[\s>]/gi) ?? []).length - (line.match(/<\/details>/gi) ?? []).length;
      if (depth < 0) depth = 0;
    }
    current.push(line);
  }
  if (current.length) blocks.push(current.join('\n'));
  return blocks;
}

export interface Cut {
  markdown: string;
  /** Sections left out (0 when all fit). */
  omitted: number;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/**
 * At most `limit` characters, cut between sections — never inside one — with a last line saying how
 * many were left out. `sections` is a document (cut between its top-level blocks) or its sections
 * (e.g. one per environment); `noun` names them in that line. Sections are joined by a blank line.
 */
export function cutToLimit(sections: string | readonly string[], limit = GITHUB_COMMENT_LIMIT, noun = 'section'): Cut {
  const parts = typeof sections === 'string' ? topLevelBlocks(sections) : [...sections];
  const whole = parts.join('\n\n');
  if (whole.length <= limit) return { markdown: whole, omitted: 0 };
  let kept = 0;
  let length = 0;
  const note = (omitted: number) =>
    `_Cut here: ${plural(omitted, noun)} omitted to stay within GitHub's ${limit.toLocaleString('en-US')}-character comment limit; run the command locally for the full output._`;
  while (kept < parts.length) {
    const next = length + (kept ? 2 : 0) + parts[kept]!.length;
    if (next + 2 + note(parts.length - kept - 1).length > limit) break;
    length = next;
    kept++;
  }
  const text = [...parts.slice(0, kept), note(parts.length - kept)].join('\n\n');
  if (text.length > limit) throw new Error(`the limit of ${limit} characters is too small for the note saying what was cut`);
  return { markdown: text, omitted: parts.length - kept };
}
