/**
 * The part of the Logging query language a Log Router sink needs here: comparisons of a field with a value
 * (`=`, `!=`, `:`, `=~`, `!~`, and `:*` for "present"), values quoted or bare, a parenthesised OR/AND list as a
 * value, AND, OR, NOT (and `-`), implicit AND, parentheses. As in Cloud Logging, NOT binds tightest, then OR,
 * then AND: `a OR b AND c` is `(a OR b) AND c`. A field is a dotted path into the LogEntry's JSON
 * (`protoPayload.methodName`, `resource.labels.bucket_name`, `labels."k8s-pod/app"`); a path through a list
 * matches when any element does. `:` is a case-insensitive substring test, `=` exact. Anything else (global
 * restrictions, `<`/`>`, functions such as SEARCH()) is refused with the reason, so a sink never silently routes
 * differently from the real Log Router.
 */

export type FilterNode =
  | { and: FilterNode[] }
  | { or: FilterNode[] }
  | { not: FilterNode }
  | { field: string[]; op: ComparisonOp; value: ValueNode };

export type ComparisonOp = '=' | '!=' | ':' | '=~' | '!~';

export type ValueNode = { text: string } | { any: ValueNode[] } | { all: ValueNode[] } | { present: true };

export class FilterError extends Error {}

type Token =
  | { kind: 'word'; text: string; at: number }
  | { kind: 'string'; text: string; at: number }
  | { kind: 'op'; text: string; at: number }
  | { kind: '(' | ')'; at: number };

const OPERATORS = ['!=', '=~', '!~', '>=', '<=', '=', ':', '<', '>'];

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c, at: i });
      i++;
    } else if (c === '"') {
      const at = i;
      let text = '';
      i++;
      for (;;) {
        if (i >= filter.length) throw new FilterError(`unterminated string starting at character ${at + 1}`);
        const d = filter[i]!;
        if (d === '"') break;
        if (d === '\\') {
          const e = filter[i + 1];
          if (e === undefined) throw new FilterError(`unterminated string starting at character ${at + 1}`);
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
        } else {
          text += d;
          i++;
        }
      }
      i++;
      tokens.push({ kind: 'string', text, at });
    } else {
      const op = OPERATORS.find((o) => filter.startsWith(o, i));
      if (op) {
        tokens.push({ kind: 'op', text: op, at: i });
        i += op.length;
        continue;
      }
      const at = i;
      let text = '';
      while (i < filter.length && !/[\s()"=!:<>~]/.test(filter[i]!)) text += filter[i++];
      if (text === '') throw new FilterError(`unexpected "${c}" at character ${at + 1}`);
      tokens.push({ kind: 'word', text, at });
    }
  }
  return tokens;
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT']);
const isKeyword = (t: Token | undefined, word: string) => t?.kind === 'word' && t.text === word;

/** Parses a sink filter; throws a FilterError saying what is not supported, and where. */
export function parseFilter(filter: string): FilterNode | undefined {
  const tokens = tokenize(filter);
  let pos = 0;
  const peek = () => tokens[pos];
  const where = (t: Token | undefined) => (t ? ` at character ${t.at + 1}` : ' at the end');

  // expression = conjunction of disjunctions: AND (or juxtaposition) binds looser than OR.
  const expression = (): FilterNode => {
    const parts = [disjunction()];
    for (;;) {
      const t = peek();
      if (!t || t.kind === ')') break;
      if (isKeyword(t, 'AND')) pos++;
      parts.push(disjunction());
    }
    return parts.length === 1 ? parts[0]! : { and: parts };
  };
  const disjunction = (): FilterNode => {
    const parts = [negation()];
    while (isKeyword(peek(), 'OR')) {
      pos++;
      parts.push(negation());
    }
    return parts.length === 1 ? parts[0]! : { or: parts };
  };
  const negation = (): FilterNode => {
    const t = peek();
    if (isKeyword(t, 'NOT')) {
      pos++;
      return { not: negation() };
    }
    if (t?.kind === 'word' && t.text.startsWith('-') && t.text.length > 1) {
      // "-field=value": the minus is NOT.
      tokens[pos] = { kind: 'word', text: t.text.slice(1), at: t.at + 1 };
      return { not: negation() };
    }
    return primary();
  };
  const primary = (): FilterNode => {
    const t = peek();
    if (!t) throw new FilterError('the filter ends where a comparison was expected');
    if (t.kind === '(') {
      pos++;
      const inner = expression();
      if (peek()?.kind !== ')') throw new FilterError(`missing ")"${where(peek())}`);
      pos++;
      return inner;
    }
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) {
      throw new FilterError(`expected a field name${where(t)}, got ${t.kind === 'string' ? `"${t.text}"` : 'text' in t ? t.text : t.kind}`);
    }
    pos++;
    const op = peek();
    if (op?.kind === '(') throw new FilterError(`functions such as ${t.text}() are not supported by the sandbox's Log Router`);
    if (op?.kind !== 'op') {
      throw new FilterError(`global restrictions (a bare value such as ${t.text}) are not supported by the sandbox's Log Router: compare a field, as in protoPayload.methodName="${t.text}"`);
    }
    if (!['=', '!=', ':', '=~', '!~'].includes(op.text)) {
      throw new FilterError(`the ${op.text} operator${where(op)} is not supported by the sandbox's Log Router (supported: =, !=, :, =~, !~)`);
    }
    pos++;
    const field = fieldPath(t.text);
    const value = valueNode(op.text === ':');
    if ((op.text === '=~' || op.text === '!~') && 'text' in value) compileRegex(value.text);
    return { field, op: op.text as ComparisonOp, value };
  };
  const valueNode = (allowPresent: boolean): ValueNode => {
    const t = peek();
    if (!t) throw new FilterError('the filter ends where a value was expected');
    if (t.kind === 'string' || (t.kind === 'word' && !KEYWORDS.has(t.text))) {
      pos++;
      if (t.kind === 'word' && t.text === '*') {
        if (!allowPresent) throw new FilterError(`"*" is only a value after ":" (field:* tests that a field is present)`);
        return { present: true };
      }
      return { text: t.text };
    }
    if (t.kind === '(') {
      pos++;
      const items = [valueNode(false)];
      let joiner: 'OR' | 'AND' | undefined;
      while (peek()?.kind !== ')') {
        const k = peek();
        if (isKeyword(k, 'OR') || isKeyword(k, 'AND')) {
          const word = (k as { text: string }).text as 'OR' | 'AND';
          if (joiner && joiner !== word) throw new FilterError(`mix of AND and OR in one value list${where(k)}: add parentheses`);
          joiner = word;
          pos++;
        } else if (!k) throw new FilterError('missing ")" closing a value list');
        else joiner ??= 'AND';
        items.push(valueNode(false));
      }
      pos++;
      return joiner === 'OR' ? { any: items } : items.length === 1 ? items[0]! : { all: items };
    }
    throw new FilterError(`expected a value${where(t)}`);
  };

  if (tokens.length === 0) return undefined;
  const node = expression();
  if (pos < tokens.length) throw new FilterError(`unexpected ")"${where(tokens[pos])}`);
  return node;
}

/** `a.b.c` → ['a', 'b', 'c']: a field path (quoted segments are not supported). */
function fieldPath(text: string): string[] {
  if (!/^[A-Za-z_@][\w@]*(\.[\w@/-]+)*$/.test(text)) throw new FilterError(`"${text}" is not a field path the sandbox's Log Router understands`);
  return text.split('.');
}

function compileRegex(source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new FilterError(`invalid regular expression "${source}": ${(e as Error).message}`);
  }
}

/** The values at a path; a list on the way is searched element by element. */
function valuesAt(entry: unknown, path: string[]): unknown[] {
  let current: unknown[] = [entry];
  for (const segment of path) {
    const next: unknown[] = [];
    for (const value of current) {
      const items = Array.isArray(value) ? value : [value];
      for (const item of items) {
        if (typeof item === 'object' && item !== null && segment in item) next.push((item as Record<string, unknown>)[segment]);
      }
    }
    current = next;
  }
  return current.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

const scalar = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

function compare(actual: unknown, op: ComparisonOp, value: ValueNode): boolean {
  if ('any' in value) return value.any.some((v) => compare(actual, op, v));
  if ('all' in value) return value.all.every((v) => compare(actual, op, v));
  if ('present' in value) return actual !== undefined && actual !== null;
  if (op === ':' && typeof actual === 'object' && actual !== null) return JSON.stringify(actual).toLowerCase().includes(value.text.toLowerCase());
  const text = scalar(actual);
  if (text === undefined) return false;
  switch (op) {
    case '=':
    case '!=':
      return text === value.text;
    case ':':
      return text.toLowerCase().includes(value.text.toLowerCase());
    case '=~':
    case '!~':
      return compileRegex(value.text).test(text);
  }
}

/** Whether a LogEntry (its JSON) matches a parsed filter; an empty filter matches everything. */
export function matchesFilter(node: FilterNode | undefined, entry: unknown): boolean {
  if (!node) return true;
  if ('and' in node) return node.and.every((n) => matchesFilter(n, entry));
  if ('or' in node) return node.or.some((n) => matchesFilter(n, entry));
  if ('not' in node) return !matchesFilter(node.not, entry);
  const values = valuesAt(entry, node.field);
  // != and !~ hold when no value at the path is equal / matches (a missing field included).
  if (node.op === '!=') return !values.some((v) => compare(v, '=', node.value));
  if (node.op === '!~') return !values.some((v) => compare(v, '=~', node.value));
  return values.some((v) => compare(v, node.op, node.value));
}
