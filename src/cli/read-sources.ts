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
  return { file: '-', text: Buffer.concat(chunks).toString('utf8') };
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
  return [{ file: path, text: await readFile(path, 'utf8') }];
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
