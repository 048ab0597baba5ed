/**
 * What a secret looks like, by key name or by value: the rules that keep secrets out of app.config (and so
 * out of the .env). Heuristics, so spec.app.notSecret can exempt a key. Pure; never returns the value itself.
 */

const SECRET_WORDS = ['PASSWORD', 'PASSWD', 'SECRET', 'TOKEN', 'CREDENTIAL', 'CREDENTIALS'];
const SECRET_PAIRS = ['API_KEY', 'PRIVATE_KEY'];

/**
 * An env key that names a secret: one of the words, or two words in a row, between "_" or the ends
 * (DB_PASSWORD, API_TOKEN, OPENAI_API_KEY; not LLM_MAX_TOKENS). JavaScript and RE2 (the CRD's CEL) read it alike.
 */
export const SECRET_KEY_PATTERN = `(^|_)(${[...SECRET_WORDS, ...SECRET_PAIRS].join('|')})(_|$)`;
const SECRET_KEY = new RegExp(SECRET_KEY_PATTERN);

/** True when an env key names a secret by word (DB_PASSWORD, API_TOKEN), not by accident (LLM_MAX_TOKENS). */
export function looksSecret(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Well-known credential shapes, each with what to call it in an error. */
const SECRET_SHAPES: [RegExp, string][] = [
  // userinfo with a password; a ${VAR} reference is interpolation, not a value
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:(?!\$)[^\s/@]+@/i, 'a URL with a password in it'],
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/, 'a PEM private key'],
  [/\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*/, 'a JSON Web Token'],
  [/\bsk-(?:(?:proj|svcacct|admin|ant)-[\w-]{20,}|[A-Za-z0-9]{32,})/, 'an OpenAI-style API key (sk-...)'],
  [/\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}/, 'a GitHub token'],
  [/\bgithub_pat_\w{30,}/, 'a GitHub personal access token'],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/\bAIza[\w-]{35}/, 'a Google API key'],
];

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  const n = [...s].length;
  let bits = 0;
  for (const count of counts.values()) bits -= (count / n) * Math.log2(count / n);
  return bits;
}

const MIN_RANDOM_LENGTH = 24;
const MIN_ENTROPY = 4.0;
/** Of the most a string of its length could have (alphabet capped at 64): random strings reach 0.9+, names 0.7-0.8. */
const MIN_ENTROPY_RATIO = 0.82;

/** Names are words joined by separators (jobmatch-backend-7f9c8d6b5-xk2lp, Mistral-7B-Instruct-v0); tokens are not. */
function isWordy(run: string): boolean {
  const words = run.split(/[-_/]/);
  return words.length >= 4 && words.every((w) => w.length <= 12);
}

/** A long run of token characters that is as random as a generated key. */
function looksRandom(run: string): boolean {
  if (run.length < MIN_RANDOM_LENGTH || isWordy(run)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((c) => c.test(run)).length;
  const entropy = shannonEntropy(run);
  return classes >= 2 && entropy >= MIN_ENTROPY && entropy >= MIN_ENTROPY_RATIO * Math.log2(Math.min(run.length, 64));
}

/** What a config value looks like when it looks like a secret (never the value itself), or undefined. */
export function secretValueShape(value: string): string | undefined {
  for (const [shape, name] of SECRET_SHAPES) if (shape.test(value)) return name;
  // URLs, hostnames, lists and sentences are judged piece by piece; "/" stays in, as base64 uses it
  const runs = value.split(/[\s,;:@?&.]+/);
  if (runs.some(looksRandom)) return `a long random-looking string (at least ${MIN_RANDOM_LENGTH} characters of high entropy)`;
  return undefined;
}
