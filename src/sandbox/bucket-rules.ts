/** Cloud Storage's own naming and label rules, as the service enforces them (independent of src/api). */

export function bucketNameError(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name) || name.length < 3) return 'Invalid bucket name';
  if (name.length > 222 || (!name.includes('.') && name.length > 63)) return 'Invalid bucket name: too long';
  if (name.split('.').some((p) => p.length === 0 || p.length > 63)) return 'Invalid bucket name';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name) || name.startsWith('goog') || /g[o0][o0]gle/.test(name)) return 'Invalid bucket name';
  return undefined;
}

const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;

export function labelsError(labels: unknown): string | undefined {
  if (labels === undefined || labels === null) return undefined;
  if (typeof labels !== 'object' || Array.isArray(labels)) return 'labels must be a map';
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > 64) return 'too many labels (at most 64)';
  for (const [k, v] of entries) {
    if (!LABEL_KEY.test(k)) return `Invalid label key: ${k}`;
    if (v !== null && (typeof v !== 'string' || !LABEL_VALUE.test(v))) return `Invalid label value for key ${k}`;
  }
  return undefined;
}
