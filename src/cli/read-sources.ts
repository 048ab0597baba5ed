/** Reads manifest files, directories and stdin ("-") with the same size limit the parser enforces. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fieldError, type FieldError } from '../api/field-error.js';
import type { ManifestSource } from '../api/manifests.js';
import { MAX_MANIFEST_BYTES, noManifestsError, tooLargeError } from '../api/yaml-documents.js';

export interface ReadResult {
  sources: ManifestSource[];
  errors: FieldError[];
}

const MANIFEST_FILE = /\.(ya?ml|json)$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text, or undefined when they hold a NUL or are not valid UTF-8. */
function textOf(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** One error for a binary, instead of the dozens of YAML errors its bytes would make. */
function decodeManifest(file: string, bytes: Uint8Array): ManifestSource | FieldError {
  const text = textOf(bytes);
  if (text !== undefined) return { file, text };
  return { ...fieldError('file.notText', '', 'not a text file (binary or not UTF-8)', 'pass a YAML or JSON manifest'), source: { file } };
}

/** Reads stdin but stops, without buffering the rest, once it passes the limit. */
async function readStdin(stdin: AsyncIterable<Buffer | string>): Promise<ManifestSource | FieldError> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_MANIFEST_BYTES) return tooLargeError('-', `more than ${MAX_MANIFEST_BYTES}`);
    chunks.push(buf);
  }
  return decodeManifest('-', Buffer.concat(chunks));
}

async function readPath(path: string): Promise<(ManifestSource | FieldError)[]> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return [{ ...fieldError('file.notFound', '', 'cannot read this file', 'check the path passed to -f'), source: { file: path } }];
  }
  if (info.isDirectory()) {
    const names = (await readdir(path)).filter((n) => MANIFEST_FILE.test(n)).sort();
    if (names.length === 0) return [noManifestsError(path, 'no *.yaml, *.yml or *.json file')];
    const nested = await Promise.all(names.map((n) => readPath(join(path, n))));
    return nested.flat();
  }
  if (info.size > MAX_MANIFEST_BYTES) return [tooLargeError(path, info.size)];
  return [decodeManifest(path, await readFile(path))];
}

/** Every -f argument in order: a file, a directory's manifests (sorted), or "-" for stdin. */
export async function readSources(paths: string[], stdin: AsyncIterable<Buffer | string>): Promise<ReadResult> {
  const sources: ManifestSource[] = [];
  const errors: FieldError[] = [];
  for (const path of paths) {
    const results = path === '-' ? [await readStdin(stdin)] : await readPath(path);
    for (const r of results) {
      if ('text' in r) sources.push(r);
      else errors.push(r);
    }
  }
  return { sources, errors };
}
