/** Errors are values: a code, the field path, what is wrong and how to fix it; made once, where found. */

export interface SourceRef {
  file: string;
  /** 1-based index of the YAML document in the file. */
  document?: number;
  line?: number;
}

export interface FieldError {
  code: string;
  /** e.g. spec.buckets[1].name; empty for errors about a whole document or file. */
  path: string;
  message: string;
  fix: string;
  source?: SourceRef;
}

export function fieldError(code: string, path: string, message: string, fix: string): FieldError {
  return { code, path, message, fix };
}

/** Joins a JSON-pointer-like list of segments as spec.buckets[1].name. */
export function joinPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** The inverse of joinPath. */
export function splitPath(path: string): (string | number)[] {
  const segments: (string | number)[] = [];
  const token = /([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(token)) {
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else if (m[3] !== undefined) segments.push(JSON.parse(m[3]) as string);
  }
  return segments;
}

export function describeSource(source: SourceRef | undefined): string {
  if (!source) return '';
  const doc = source.document !== undefined ? ` (document ${source.document})` : '';
  const line = source.line !== undefined ? `:${source.line}` : '';
  return `${source.file}${line}${doc}`;
}

/** One line per error: `file (document n): path: message — fix: ...`. */
export function formatFieldError(e: FieldError): string {
  const where = describeSource(e.source);
  const head = [where, e.path].filter((s) => s !== '').join(': ');
  return `${head === '' ? '' : `${head}: `}${e.message} — fix: ${e.fix}`;
}
