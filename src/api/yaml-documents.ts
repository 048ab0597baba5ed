/** Safe multi-document YAML parsing: size and alias limits, line numbers on every error. Pure. */
import { LineCounter, isMap, isNode, isScalar, isSeq, parseAllDocuments, type Document, type YAMLError } from 'yaml';
import { fieldError, joinPath, type FieldError } from './field-error.js';

/** Larger than any object the Kubernetes API accepts (about 1.5 MiB), small enough to parse in milliseconds. */
export const MAX_MANIFEST_BYTES = 2 * 1024 * 1024;
/** Aliases expanded per document; a billion-laughs bomb needs millions. */
export const MAX_ALIASES = 100;

export interface YamlDocument {
  /** 1-based position in the file. */
  index: number;
  line: number;
  value: unknown;
  /** The line of the deepest node that exists along a field path. */
  lineOf: (path: (string | number)[]) => number;
}

export interface ParsedYaml {
  documents: YamlDocument[];
  errors: FieldError[];
}

function lineFinder(doc: Document, lineCounter: LineCounter, fallback: number) {
  return (path: (string | number)[]): number => {
    for (let depth = path.length; depth > 0; depth--) {
      const node = doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return fallback;
  };
}

const at = (e: FieldError, file: string, document?: number, line?: number): FieldError => ({
  ...e,
  source: { file, ...(document !== undefined ? { document } : {}), ...(line !== undefined ? { line } : {}) },
});

interface DuplicateKey {
  parent: (string | number)[];
  key: string;
  /** Offsets of the first occurrence and of the repeated one. */
  first: number;
  repeated: number;
}

/** The map key that starts at `offset`, with its parent's path and the offset of the key's first occurrence. */
function findDuplicate(node: unknown, offset: number, parent: (string | number)[] = []): DuplicateKey | undefined {
  if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = findDuplicate(item, offset, [...parent, i]);
      if (found) return found;
    }
  }
  if (!isMap(node)) return undefined;
  for (const pair of node.items) {
    const key = pair.key;
    if (!isScalar(key) || !key.range) continue;
    if (key.range[0] <= offset && offset < Math.max(key.range[1], key.range[0] + 1)) {
      const first = node.items.find((p) => isScalar(p.key) && p.key.value === key.value)!.key as typeof key;
      return { parent, key: String(key.value), first: first.range![0], repeated: key.range[0] };
    }
    const found = findDuplicate(pair.value, offset, [...parent, String(key.value)]);
    if (found) return found;
  }
  return undefined;
}

/** The yaml library only says "Map keys must be unique": name the key, where it sits, and both places. */
function duplicateKeyError(doc: Document, err: YAMLError, lineCounter: LineCounter): FieldError | undefined {
  const dup = findDuplicate(doc.contents, err.pos[0]);
  if (!dup) return undefined;
  const [first, repeated] = [lineCounter.linePos(dup.first), lineCounter.linePos(dup.repeated)];
  const where = first.line === repeated.line
    ? `line ${repeated.line}, column ${repeated.col}; first at column ${first.col}`
    : `line ${repeated.line}; first at line ${first.line}`;
  const parent = dup.parent.length === 0 ? 'the document' : joinPath(dup.parent);
  return fieldError('yaml.duplicateKey', joinPath([...dup.parent, dup.key]), `duplicate key "${dup.key}" in ${parent} (${where})`,
    'remove one of them');
}

/** The error for input over the limit; `bytes` may be a bound ("more than N") when reading stopped early. */
export function tooLargeError(file: string, bytes: number | string): FieldError {
  return at(fieldError('yaml.tooLarge', '', `input is ${bytes} bytes; manifests are limited to ${MAX_MANIFEST_BYTES} bytes`,
    'split it into smaller files; a JobMatchEnvironment is a few kilobytes'), file);
}

/** Parses every document of a YAML stream (YAML 1.2 core schema: no custom tags, no code). */
export function parseYamlDocuments(text: string, file: string): ParsedYaml {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_MANIFEST_BYTES) {
    return {
      documents: [],
      errors: [tooLargeError(file, bytes)],
    };
  }
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true, schema: 'core', merge: false });
  const documents: YamlDocument[] = [];
  const errors: FieldError[] = [];
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const index = i + 1;
    const line = lineCounter.linePos(doc.range[0]).line;
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const error = (err.code === 'DUPLICATE_KEY' && duplicateKeyError(doc, err, lineCounter))
          || fieldError('yaml.syntax', '', `YAML syntax error: ${err.message.split('\n')[0]}`, 'correct the YAML at that line');
        errors.push(at(error, file, index, err.linePos?.[0].line));
      }
      return;
    }
    try {
      const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIASES });
      if (value === null || value === undefined) return; // an empty document between separators, as kubectl skips it
      documents.push({ index, line, value, lineOf: lineFinder(doc, lineCounter, line) });
    } catch (e) {
      errors.push(at(fieldError('yaml.aliases', '', `YAML rejected: ${(e as Error).message}`,
        `use fewer anchors/aliases (at most ${MAX_ALIASES} expansions per document)`), file, index, line));
    }
  });
  if (documents.length === 0 && errors.length === 0) errors.push(noManifestsError(file === '-' ? 'stdin' : file));
  return { documents, errors };
}

/** The error for an input (a file, stdin or a directory) that holds no manifest at all: API.md makes it exit 1. */
export function noManifestsError(where: string, detail = 'it holds no YAML document'): FieldError {
  return fieldError('yaml.empty', '', `no manifests found in ${where}: ${detail}`,
    'pass a file or directory holding at least one JobMatchEnvironment manifest');
}
