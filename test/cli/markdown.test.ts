import MarkdownIt from 'markdown-it';
import { describe, expect, it } from 'vitest';
import {
  codeCell, commentMarker, cutToLimit, details, escapeCell, escapeHtml, escapeText, GITHUB_COMMENT_LIMIT, inlineCode, table, topLevelBlocks,
} from '../../src/cli/markdown.js';
import { parsedTables, ruleTables } from '../support/gfm.js';

describe('markdown: code spans (CommonMark 6.1)', () => {
  it.each([
    ['plain', '`plain`'],
    ['a`b', '``a`b``'],
    ['a``b`c', '```a``b`c```'],
    ['`starts', '`` `starts ``'],
    ['ends`', '`` ends` ``'],
    [' both ', '`  both  `'],
    ['   ', '`   `'],
    ['', '` `'],
    ['two\nlines', '`two lines`'],
  ])('holds %j exactly', (text, md) => {
    expect(inlineCode(text)).toBe(md);
  });

  it('uses a fence longer than any backtick run inside', () => {
    const md = inlineCode('x ```` y');
    expect(md.startsWith('`````')).toBe(true);
  });
});

describe('markdown: prose escaping', () => {
  it('backslash-escapes every character that starts inline markup, a mention, a reference or math', () => {
    expect(escapeText('*a* _b_ [c](d) <e> #1 @team ~f~ !g &amp; `h` \\ | $x$')).toBe(
      '\\*a\\* \\_b\\_ \\[c\\](d) \\<e\\> \\#1 \\@team \\~f\\~ \\!g \\&amp; \\`h\\` \\\\ \\| \\$x\\$',
    );
  });

  it.each([
    ['- item', '\\- item'],
    ['+ item', '\\+ item'],
    ['1. item', '1\\. item'],
    ['12) item', '12\\) item'],
    ['===', '\\==='],
    ['    code', 'code'],
    ['> quote', '\\> quote'],
    ['# heading', '\\# heading'],
  ])('keeps %j from opening a block', (text, md) => {
    expect(escapeText(text)).toBe(md);
  });

  it('leaves ordinary text alone', () => {
    expect(escapeText('gs://jobmatch-bronze/france_travail/offers/ in europe-west1.')).toBe('gs://jobmatch-bronze/france\\_travail/offers/ in europe-west1.');
  });

  it('gives HTML contexts entities, not backslashes', () => {
    expect(escapeHtml('a < b & "c" > d')).toBe('a &lt; b &amp; &quot;c&quot; &gt; d');
  });
});

describe('markdown: table cells (GFM tables extension)', () => {
  it('escapes pipes and turns line breaks into <br> in prose cells', () => {
    expect(escapeCell('a|b\nc\r\nd')).toBe('a\\|b<br>c<br>d');
  });

  it('escapes pipes inside code spans too, since rows are split before inline parsing', () => {
    expect(codeCell('a|b')).toBe('`a\\|b`');
    expect(codeCell('x`|`y')).toBe('``x`\\|`y``');
  });

  it('shows a backslash right before a pipe as <code> text, where a code span cannot hold it', () => {
    expect(codeCell('a\\|b')).toBe('<code>a\\\\\\|b</code>');
  });
});

describe('markdown: tables', () => {
  it('writes a header, a delimiter row and rows of the same width', () => {
    expect(table(['name', 'n'], [['`a`', '1'], ['b', '']], ['left', 'right'])).toBe('| name | n |\n| :--- | ---: |\n| `a` | 1 |\n| b |  |');
  });

  it.each([
    [['a', 'b'], [['1']], /row 1 has 1 cells/],
    [['a'], [['x\ny']], /line break/],
    [['a'], [['x|y']], /unescaped pipe/],
    [['a'], [['x\\\\|y']], /unescaped pipe/],
  ])('refuses a malformed row: %j %j', (headers, rows, error) => {
    expect(() => table(headers, rows)).toThrow(error);
  });

  it('accepts escaped pipes', () => {
    expect(() => table(['a'], [[escapeCell('x|y')], [codeCell('x|y')], [codeCell('x\\|y')]])).not.toThrow();
  });
});

describe('markdown: details and markers', () => {
  it('surrounds the markdown body with the blank lines GitHub needs, the summary as HTML', () => {
    expect(details('staging <prod>', '| a |\n| --- |\n| b |\n')).toBe(
      '<details>\n<summary>staging &lt;prod&gt;</summary>\n\n| a |\n| --- |\n| b |\n\n</details>',
    );
    expect(details('s', 'b', { open: true }).startsWith('<details open>')).toBe(true);
  });

  it('makes a hidden HTML comment per kind of comment', () => {
    expect(commentMarker('plan')).toBe('<!-- jobmatch-operator:plan -->');
    expect(commentMarker('diff-env')).toBe('<!-- jobmatch-operator:diff-env -->');
    for (const bad of ['Plan', 'a--b', 'x -->', '']) expect(() => commentMarker(bad)).toThrow();
  });
});

describe('markdown: the comment limit', () => {
  it("is GitHub's 65,536 characters", () => {
    expect(GITHUB_COMMENT_LIMIT).toBe(65536);
  });

  it('splits a document into blocks, never inside a fence or a details element', () => {
    const doc = 'one\n\n```\na\n\nb\n```\n\n' + details('s', 'x\n\ny') + '\n\nlast';
    expect(topLevelBlocks(doc)).toEqual(['one', '```\na\n\nb\n```', details('s', 'x\n\ny'), 'last']);
  });

  it('leaves a document that fits as it is', () => {
    expect(cutToLimit(['a', 'b'], 10)).toEqual({ markdown: 'a\n\nb', omitted: 0 });
  });

  it('cuts between sections, says how many were left out, and stays within the limit', () => {
    const sections = Array.from({ length: 10 }, (_, i) => details(`env ${i}`, 'x'.repeat(100)));
    const cut = cutToLimit(sections, 600, 'environment');
    expect(cut.markdown.length).toBeLessThanOrEqual(600);
    expect(cut.omitted).toBeGreaterThan(0);
    expect(cut.markdown).toContain(`${cut.omitted} environments omitted`);
    expect(cut.markdown).toContain('600-character comment limit');
    expect(cut.markdown.split('<details>').length - 1).toBe(10 - cut.omitted);
    expect(cut.markdown.split('</details>').length - 1).toBe(10 - cut.omitted);
  });

  it('cuts a whole document at its top-level blocks', () => {
    const doc = Array.from({ length: 50 }, (_, i) => `paragraph ${i} ${'y'.repeat(50)}`).join('\n\n');
    const cut = cutToLimit(doc, 1000);
    expect(cut.markdown.length).toBeLessThanOrEqual(1000);
    expect(cut.markdown).toMatch(/\d+ sections omitted/);
    expect(cut.markdown.startsWith('paragraph 0 ')).toBe(true);
  });

  it('says "1 section" in the singular', () => {
    expect(cutToLimit(['a'.repeat(50), 'b'.repeat(200)], 250, 'environment').markdown).toContain('1 environment omitted');
  });
});

describe('markdown: read back by a CommonMark parser with GFM tables (markdown-it)', () => {
  const tricky = ['a|b', 'x`|`y', '``', '`', 'a\\|b', 'back\\slash', '*not em* _nor_ [link](x) <b>tag</b> &amp; #1 @team ~s~ $m$', '- item', '1. one', 'two\nlines', ' padded ', '|', '\\'];
  const md = new MarkdownIt({ html: true });
  const paragraphText = (source: string) => {
    const tokens = md.parse(source, {});
    const inline = tokens.filter((t) => t.type === 'inline');
    return inline.map((t) => (t.children ?? []).map((c) => (c.type === 'softbreak' ? '\n' : c.content)).join('')).join('\n');
  };

  it.each(tricky)('escapeText(%j) reads back as the same text', (text) => {
    expect(paragraphText(escapeText(text))).toBe(text.split('\n').map((l) => l.trim()).join('\n'));
  });

  it.each(tricky)('inlineCode(%j) reads back as one code span holding it', (text) => {
    const [inline] = md.parse(`x ${inlineCode(text)} y`, {}).filter((t) => t.type === 'inline');
    const spans = inline!.children!.filter((c) => c.type === 'code_inline');
    expect(spans.map((c) => c.content)).toEqual([text.replace(/\n/g, ' ')]);
  });

  it('a table of tricky values, as prose and as code, reads back cell for cell', () => {
    const source = details('tricky', table(['prose', 'code'], tricky.map((t) => [escapeCell(t), codeCell(t)])));
    const expected = [['prose', 'code'], ...tricky.map((t) => [t.split('\n').map((l) => l.trim()).join('\n'), t.replace(/\n/g, ' ')])];
    expect(parsedTables(source)).toEqual([expected]);
    expect(ruleTables(source)).toEqual([expected]);
  });
});
