/** Reads and validates the manifests named by -f, reporting every error to stderr. */
import { formatFieldError, type FieldError } from '../api/field-error.js';
import { loadManifests, type LoadedEnvironment, type LoadOptions } from '../api/manifests.js';
import { noManifestsError } from '../api/yaml-documents.js';
import type { CliIo } from './io.js';
import { readSources } from './read-sources.js';

export function reportErrors(io: CliIo, errors: FieldError[]): void {
  for (const e of errors) io.stderr(`error: ${formatFieldError(e)}\n`);
  const files = new Set(errors.map((e) => e.source?.file ?? '')).size;
  io.stderr(`${errors.length} error${errors.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}; nothing was changed\n`);
}

/** The environments of every -f source, or undefined after reporting why not. */
export async function loadOrReport(io: CliIo, files: string[], options: LoadOptions = {}): Promise<LoadedEnvironment[] | undefined> {
  const read = await readSources(files, io.stdin);
  const loaded = loadManifests(read.sources, options);
  // One note per document of another kind (a GitOps directory holds kustomization.yaml, ConfigMaps …): never silent.
  for (const { source, what } of loaded.skipped) {
    io.stderr(`note: ${source.file}: document ${source.document ?? 1} (line ${source.line ?? 1}): skipped a ${what}: only JobMatchEnvironment documents are read (--strict refuses other kinds)\n`);
  }
  const errors = [...read.errors, ...loaded.errors];
  // Each source already reports its own emptiness; this guards the sum (API.md: no manifest at all is an error).
  if (errors.length === 0 && loaded.environments.length === 0) errors.push(noManifestsError(files.join(', '), 'no JobMatchEnvironment'));
  if (errors.length > 0) {
    reportErrors(io, errors);
    return undefined;
  }
  return loaded.environments;
}
