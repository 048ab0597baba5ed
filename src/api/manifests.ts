/** From YAML text to validated, defaulted environments: parse, check kind, schema, semantics, claims. Pure. */
import { checkClaims } from './claims.js';
import { checkIamPolicy, DEFAULT_IAM_POLICY, type IamPolicy } from './iam-policy.js';
import { resolveSpec, type ResolvedSpec } from './defaults.js';
import { REDEPLOY_AT_ANNOTATION, redeployToken } from './naming.js';
import { fieldError, splitPath, type FieldError, type SourceRef } from './field-error.js';
import { validateAgainstSchema } from './schema-validation.js';
import { checkSemantics } from './semantic-validation.js';
import { API_VERSION, GROUP, KIND, type JobMatchEnvironment } from './types.js';
import { parseYamlDocuments, type YamlDocument } from './yaml-documents.js';

export interface ManifestSource {
  /** Shown in errors: a path, or "-" for stdin. */
  file: string;
  text: string;
}

export interface LoadedEnvironment {
  /** The manifest as written, with the CRD schema's defaults filled in. */
  manifest: JobMatchEnvironment;
  /** Every optional field decided: the desired state. */
  spec: ResolvedSpec;
  namespace: string;
  source: SourceRef;
}

/** A document of another kind (a ConfigMap, a Namespace, a kustomization.yaml …), passed over with `otherKinds: 'skip'`. */
export interface SkippedDocument {
  source: SourceRef;
  /** What it is: `v1 ConfigMap`, or `Kustomization (kustomization.yaml)` for a kustomization file without a kind. */
  what: string;
}

export interface LoadResult {
  environments: LoadedEnvironment[];
  errors: FieldError[];
  /** The documents of other kinds skipped (always empty unless `otherKinds: 'skip'`). */
  skipped: SkippedDocument[];
}

const DEFAULT_NAMESPACE = 'default';

/** kustomize's own file names: such a file is a Kustomization, even when it omits kind and apiVersion. */
const KUSTOMIZATION_FILE = /(^|[\\/])(kustomization\.ya?ml|Kustomization)$/;

/**
 * What a document is when it is an object of another kind than ours, else undefined: then checkKind decides
 * (a JobMatchEnvironment, a wrong apiVersion of ours, no kind at all, not an object).
 */
function otherKind(value: unknown, file: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
  if (KUSTOMIZATION_FILE.test(file) && (kind === undefined || kind === 'Kustomization')) {
    const name = file.split(/[\\/]/).at(-1);
    return `${typeof apiVersion === 'string' ? `${apiVersion} ` : ''}Kustomization (${name})`;
  }
  if (typeof kind !== 'string' || kind === KIND) return undefined;
  return `${typeof apiVersion === 'string' ? `${apiVersion} ` : ''}${kind}`;
}

function checkKind(value: unknown): FieldError | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fieldError('document.notObject', '', `document is a ${Array.isArray(value) ? 'list' : typeof value}, not a manifest`,
      `write a ${KIND} object (apiVersion, kind, metadata, spec)`);
  }
  const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
  if (kind !== KIND) {
    const what = kind === undefined ? 'has no kind' : `is a ${String(apiVersion ?? '?')} ${String(kind)}`;
    return fieldError('document.kind', 'kind', `document ${what}; only ${API_VERSION} ${KIND} is read here`,
      `remove this document, or set apiVersion: ${API_VERSION} and kind: ${KIND}`);
  }
  if (apiVersion !== API_VERSION) {
    const fix = typeof apiVersion === 'string' && apiVersion.startsWith(`${GROUP}/`)
      ? `this operator serves ${API_VERSION}; set apiVersion: ${API_VERSION}` : `set apiVersion: ${API_VERSION}`;
    return fieldError('document.apiVersion', 'apiVersion', `${JSON.stringify(apiVersion)} is not a supported apiVersion`, fix);
  }
  return undefined;
}

/** A semantic rule that explains a name gives a better message than the schema's bare pattern: keep that one. */
function merge(schemaErrors: FieldError[], semanticErrors: FieldError[]): FieldError[] {
  const explained = new Set(semanticErrors.map((e) => e.path));
  return [...schemaErrors.filter((e) => !(e.code === 'schema.pattern' && explained.has(e.path))), ...semanticErrors];
}

export interface LoadOptions {
  /** What IAM a manifest may ask for: the operator's policy (--policy FILE, the operator's config); the safe defaults when absent. */
  iamPolicy?: IamPolicy;
  /**
   * Documents of other kinds (a GitOps directory's kustomization.yaml, ConfigMaps, Namespaces …): `refuse` (the
   * default, and --strict) makes each an error; `skip` passes over them and lists them in `skipped`.
   */
  otherKinds?: 'refuse' | 'skip';
}

/** The semantic errors of one schema-checked document, the operator's IAM policy included. */
function semanticErrors(manifest: JobMatchEnvironment, policy: IamPolicy): FieldError[] {
  const iam = Array.isArray(manifest.spec?.iam) ? manifest.spec.iam : [];
  return [...checkSemantics(manifest), ...checkIamPolicy(iam, policy)];
}

/** Validates every document of every source; returns the environments only if there is no error at all. */
export function loadManifests(sources: ManifestSource[], options: LoadOptions = {}): LoadResult {
  const parsed = sources.map(({ file, text }) => ({ file, ...parseYamlDocuments(text, file) }));
  return loadDocuments(parsed, options);
}

/** One object already parsed (the API server's JSON), checked exactly as a file's document: no YAML to parse again. */
export function loadValue(file: string, value: unknown, options: LoadOptions = {}): LoadResult {
  return loadDocuments([{ file, documents: [{ index: 1, line: 1, value, lineOf: () => 1 }], errors: [] }], options);
}

function loadDocuments(sources: { file: string; documents: YamlDocument[]; errors: FieldError[] }[], options: LoadOptions): LoadResult {
  const policy = options.iamPolicy ?? DEFAULT_IAM_POLICY;
  const errors: FieldError[] = [];
  const loaded: LoadedEnvironment[] = [];
  const skipped: SkippedDocument[] = [];
  for (const parsed of sources) {
    const { file } = parsed;
    errors.push(...parsed.errors);
    for (const doc of parsed.documents) {
      const source: SourceRef = { file, document: doc.index, line: doc.line };
      const other = otherKind(doc.value, file);
      if (other !== undefined && options.otherKinds === 'skip') {
        skipped.push({ source, what: other });
        continue;
      }
      const kindError = other !== undefined && (doc.value as { kind?: unknown }).kind === undefined
        ? fieldError('document.kind', 'kind', `document is a ${other}; only ${API_VERSION} ${KIND} is read here`,
          'remove this document, or run without --strict to skip documents of other kinds')
        : checkKind(doc.value);
      if (kindError) {
        errors.push({ ...kindError, source });
        continue;
      }
      const manifest = structuredClone(doc.value) as JobMatchEnvironment;
      const docErrors = merge(validateAgainstSchema(manifest), semanticErrors(manifest, policy));
      if (docErrors.length > 0) {
        const located = docErrors.map((e) => ({ ...e, source: { ...source, line: doc.lineOf(splitPath(e.path)) } }));
        errors.push(...located.sort((a, b) => a.source.line - b.source.line));
        continue;
      }
      const redeploy = manifest.metadata.annotations?.[REDEPLOY_AT_ANNOTATION];
      const spec = { ...resolveSpec(manifest.spec), ...(redeploy ? { redeploy: redeployToken(redeploy) } : {}) };
      loaded.push({ manifest, spec, namespace: manifest.metadata.namespace ?? DEFAULT_NAMESPACE, source });
    }
  }
  errors.push(...checkClaims(loaded.map((l) => ({ spec: l.spec, name: l.manifest.metadata.name, namespace: l.namespace, source: l.source }))));
  return errors.length > 0 ? { environments: [], errors, skipped } : { environments: loaded, errors: [], skipped };
}
