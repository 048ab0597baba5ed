/** Every form a secret value could leak in: raw, base64, base64url, hex, and the JSON byte array of a Buffer. */
export function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [value, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), [...bytes].join(',')];
}

/** The encodings of `values` found in `output` (empty when nothing leaked). */
export function leaks(values: string[], output: string): string[] {
  return values.flatMap((v) => encodings(v).filter((form) => output.includes(form)).map((form) => `${v.slice(0, 3)}… as ${form.slice(0, 12)}…`));
}
