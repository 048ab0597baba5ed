/**
 * GitHub-flavoured markdown checks for the comments we post, after the GFM spec's rules: a table is a header
 * row, a delimiter row with as many cells, and rows split at pipes not escaped by a backslash (before inline
 * parsing, so inside code spans too); `<details>` blocks are balanced, with the blank lines GitHub needs around
 * their markdown body. `cellText` renders a cell's inline content (code spans, backslash escapes, `<br>`,
 * `<code>`, entities) to the text a reader sees, to prove a value survives exactly. `parsedTables` reads the same
 * tables with markdown-it (an independent CommonMark parser with GFM tables), so these rules are checked too.
 */
import MarkdownIt from 'markdown-it';

/** The cells of a table row, split at unescaped pipes, with `\|` turned into `|` (the GFM tables extension). */
export function splitRow(line: string): string[] {
  let row = line.trim();
  if (row.startsWith('|')) row = row.slice(1);
  const cells: string[] = [];
  let current = '';
  for (let i = 0; i < row.length; i++) {
    const c = row[i]!;
    if (c === '\\' && row[i + 1] === '|') {
      current += '|';
      i++;
    } else if (c === '\\' && i + 1 < row.length) {
      current += c + row[i + 1];
      i++;
    } else if (c === '|') {
      cells.push(current.trim());
      current = '';
    } else current += c;
  }
  if (current.trim() !== '' || !row.endsWith('|')) cells.push(current.trim());
  return cells;
}

const DELIMITER_CELL = /^:?-+:?$/;

export interface GfmTable {
  header: string[];
  rows: string[][];
}

/** Every table of the document (outside fenced code), and what is wrong with each. */
export function gfmTables(markdown: string): { tables: GfmTable[]; problems: string[] } {
  const lines = markdown.split('\n');
  const tables: GfmTable[] = [];
  const problems: string[] = [];
  let fence = false;
  for (let i = 0; i < lines.length; i++) {
    if (/^ {0,3}(```|~~~)/.test(lines[i]!)) fence = !fence;
    if (fence || !lines[i]!.trim().startsWith('|') || i + 1 >= lines.length) continue;
    const delimiter = splitRow(lines[i + 1]!);
    if (!delimiter.every((c) => DELIMITER_CELL.test(c))) {
      problems.push(`line ${i + 1}: a row starting with | not under a table header: ${lines[i]}`);
      continue;
    }
    const header = splitRow(lines[i]!);
    if (delimiter.length !== header.length) problems.push(`line ${i + 2}: the delimiter row has ${delimiter.length} cells, the header ${header.length}`);
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.trim() !== ''; j++) {
      const cells = splitRow(lines[j]!);
      if (cells.length !== header.length) problems.push(`line ${j + 1}: ${cells.length} cells, the header has ${header.length}: ${lines[j]}`);
      rows.push(cells);
    }
    tables.push({ header, rows });
    i = j;
  }
  return { tables, problems };
}

/** What is wrong with the `<details>` blocks: unbalanced, or without the blank lines markdown inside needs. */
export function detailsProblems(markdown: string): string[] {
  const lines = markdown.split('\n');
  const problems: string[] = [];
  let depth = 0;
  lines.forEach((line, i) => {
    if (/^<details( open)?>$/.test(line)) {
      depth++;
      if (!/^<summary>[^<>]*<\/summary>$/.test(lines[i + 1] ?? '')) problems.push(`line ${i + 2}: <details> without a one-line <summary> of plain text after it`);
      if ((lines[i + 2] ?? '') !== '') problems.push(`line ${i + 3}: no blank line after <summary>: the body would be read as HTML`);
    } else if (line === '</details>') {
      depth--;
      if (depth < 0) problems.push(`line ${i + 1}: </details> without <details>`);
      if ((lines[i - 1] ?? '') !== '') problems.push(`line ${i}: no blank line before </details>`);
    } else if (/<\/?details/.test(line)) problems.push(`line ${i + 1}: a details tag not alone on its line: ${line}`);
  });
  if (depth > 0) problems.push(`${depth} <details> never closed`);
  return problems;
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#124;': '|' };

/** The text a reader sees of a cell (already split and pipe-unescaped by splitRow): code spans, escapes, `<br>`, `<code>`. */
export function cellText(cell: string): string {
  let out = '';
  let i = 0;
  while (i < cell.length) {
    const c = cell[i]!;
    if (c === '`') {
      const run = /^`+/.exec(cell.slice(i))![0];
      // The closer: the next backtick run of exactly the same length (CommonMark 6.1).
      let j = i + run.length;
      let close = -1;
      while (j < cell.length) {
        const next = cell.indexOf('`', j);
        if (next < 0) break;
        const r = /^`+/.exec(cell.slice(next))![0];
        if (r.length === run.length) {
          close = next;
          break;
        }
        j = next + r.length;
      }
      if (close < 0) {
        out += run;
        i += run.length;
        continue;
      }
      let content = cell.slice(i + run.length, close);
      if (content.length >= 2 && content.startsWith(' ') && content.endsWith(' ') && content.trim() !== '') content = content.slice(1, -1);
      out += content;
      i = close + run.length;
    } else if (c === '\\' && i + 1 < cell.length && /[!-/:-@[-`{-~]/.test(cell[i + 1]!)) {
      out += cell[i + 1];
      i += 2;
    } else if (cell.startsWith('<br>', i)) {
      out += '\n';
      i += 4;
    } else if (cell.startsWith('<code>', i) || cell.startsWith('</code>', i)) {
      i += cell.startsWith('<code>', i) ? 6 : 7;
    } else if (c === '&') {
      const entity = Object.keys(ENTITIES).find((e) => cell.startsWith(e, i));
      out += entity ? ENTITIES[entity] : c;
      i += entity ? entity.length : 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Every GFM problem of a comment: tables and details blocks. */
export function gfmProblems(markdown: string): string[] {
  return [...gfmTables(markdown).problems, ...detailsProblems(markdown)];
}

type Token = ReturnType<InstanceType<typeof MarkdownIt>['parse']>[number];

/** A cell's text as markdown-it renders it: text and code spans, `<br>` as a line break, other inline HTML dropped. */
function tokenText(children: readonly Token[]): string {
  return children.map((t) => {
    if (t.type === 'text' || t.type === 'code_inline') return t.content;
    if (t.type === 'html_inline') return /^<br\s*\/?>$/i.test(t.content) ? '\n' : '';
    if (t.type === 'softbreak' || t.type === 'hardbreak') return '\n';
    return tokenText(t.children ?? []);
  }).join('');
}

/** Every table markdown-it finds (HTML allowed, as GitHub does), as rows of cell texts, the header row first. */
export function parsedTables(markdown: string): string[][][] {
  const tokens = new MarkdownIt({ html: true }).parse(markdown, {});
  const tables: string[][][] = [];
  let row: string[] | undefined;
  for (const t of tokens) {
    if (t.type === 'table_open') tables.push([]);
    else if (t.type === 'tr_open') row = [];
    else if (t.type === 'tr_close' && row) {
      tables[tables.length - 1]!.push(row);
      row = undefined;
    }
    else if (t.type === 'inline' && row) row.push(tokenText(t.children ?? []));
  }
  return tables;
}

/** The tables as this file's rules read them, in the shape of parsedTables: the two readings must agree. */
export function ruleTables(markdown: string): string[][][] {
  return gfmTables(markdown).tables.map((t) => [t.header, ...t.rows].map((r) => r.map(cellText)));
}
