import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, parseYamlDocuments } from '../../src/api/yaml-documents.js';
import { loadManifests } from '../../src/api/manifests.js';
import { exampleText } from '../support/manifests.js';

function billionLaughs(levels: number): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return lines.join('\n');
}

describe('YAML input', () => {
  it('reads several documents, skipping empty ones, with their line', () => {
    const text = `---\n${exampleText('staging')}\n---\n---\n${exampleText('prod')}`;
    const { documents, errors } = parseYamlDocuments(text, 'x.yaml');
    expect(errors).toEqual([]);
    expect(documents.map((d) => d.index)).toEqual([1, 3]);
    expect(documents[1]!.line).toBeGreaterThan(90);
  });

  it('gives the line of a syntax error', () => {
    const text = 'apiVersion: jobmatch.io/v1alpha1\nkind: JobMatchEnvironment\nspec:\n  environment: [unclosed\n  gcp: {}\n';
    const { errors } = parseYamlDocuments(text, 'bad.yaml');
    expect(errors[0]).toMatchObject({ code: 'yaml.syntax', source: { file: 'bad.yaml', document: 1 } });
    expect(errors[0]!.source!.line).toBeGreaterThanOrEqual(4);
  });


  it('refuses a billion-laughs alias bomb quickly', () => {
    const { documents, errors } = parseYamlDocuments(billionLaughs(9), 'bomb.yaml');
    expect(documents).toEqual([]);
    expect(errors[0]).toMatchObject({ code: 'yaml.aliases' });
    expect(errors[0]!.fix).toMatch(/aliases/);
  });

  it('refuses a 50 MB document without parsing it', () => {
    const huge = `a: "${'x'.repeat(50 * 1024 * 1024)}"`;
    const { errors } = parseYamlDocuments(huge, 'huge.yaml');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'yaml.tooLarge' });
    expect(errors[0]!.message).toContain(String(MAX_MANIFEST_BYTES));
  });

  it('treats custom tags as plain data, never as code', () => {
    const { documents } = parseYamlDocuments('a: !!js/function "function(){}"\nb: !custom x\n', 'tag.yaml');
    expect(documents[0]?.value).toEqual({ a: 'function(){}', b: 'x' });
  });

  it('says an empty file holds no manifest', () => {
    const { errors } = loadManifests([{ file: 'empty.yaml', text: '\n# nothing\n' }]);
    expect(errors).toMatchObject([{ code: 'yaml.empty', message: expect.stringContaining('no manifests found in empty.yaml') }]);
  });

  it('says a document that is not a mapping is not a manifest', () => {
    const { errors } = loadManifests([{ file: 'list.yaml', text: '- a\n- b\n' }]);
    expect(errors).toMatchObject([{ code: 'document.notObject' }]);
  });
});

describe('a duplicate key', () => {
  it.each([
    { where: 'at the top level', text: 'a: 1\na: 2\n', path: 'a', line: 2, says: 'duplicate key "a" in the document (line 2; first at line 1)' },
    { where: 'in metadata', text: 'kind: X\nmetadata:\n  name: a\n  namespace: b\n  name: c\n', path: 'metadata.name', line: 5, says: 'duplicate key "name" in metadata (line 5; first at line 3)' },
    { where: 'in a list item', text: 'spec:\n  buckets:\n    - name: a\n    - name: b\n      env: X\n      name: c\n', path: 'spec.buckets[1].name', line: 6, says: 'duplicate key "name" in spec.buckets[1] (line 6; first at line 4)' },
    { where: 'in one-line JSON', text: '{"spec": {"buckets": [{"name": "a", "x": 1, "name": "b"}]}}', path: 'spec.buckets[0].name', line: 1, says: 'duplicate key "name" in spec.buckets[0] (line 1, column 45; first at column 24)' },
    { where: 'behind an anchor', text: 'a: 1\n&x a: 2\n', path: 'a', line: 2, says: 'duplicate key "a" in the document' },
  ])('is named with its field path $where', ({ text, path, line, says }) => {
    const { errors } = parseYamlDocuments(text, 'dup.yaml');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'yaml.duplicateKey', path, fix: 'remove one of them', source: { file: 'dup.yaml', document: 1, line } });
    expect(errors[0]!.message).toContain(says);
  });
});

describe('error lines', () => {
  it('point at the offending field, or at its parent when the field is missing', () => {
    const text = exampleText('staging').replace('storageClass: STANDARD', 'storageClass: HOT');
    const line = text.split('\n').findIndex((l) => l.includes('storageClass: HOT')) + 1;
    const errors = loadManifests([{ file: 's.yaml', text }]).errors;
    expect(errors[0]).toMatchObject({ path: 'spec.buckets[0].storageClass', source: { line } });
    const missing = loadManifests([{ file: 's.yaml', text: exampleText('staging').replace(/ {4}zone: europe-west1-b\n/, '') }]).errors;
    const vmLine = exampleText('staging').split('\n').findIndex((l) => l.startsWith('    name: jobmatch-staging-vm')) + 1;
    expect(missing[0]).toMatchObject({ path: 'spec.vm.zone', source: { line: vmLine } });
  });
});
