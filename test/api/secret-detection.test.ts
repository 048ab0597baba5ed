import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/api/manifests.js';
import { secretValueShape, shannonEntropy } from '../../src/api/secret-detection.js';
import { mutated } from '../support/manifests.js';

// Built from parts so that no scanner mistakes this file for a leak.
const fake = (...parts: string[]) => parts.join('');

const secretValues: [string, string, RegExp][] = [
  ['a database URL with a password', 'postgresql://jobmatch:s3cr3t-pw@db:5432/jobmatch', /URL with a password/],
  ['a Redis URL with only a password', 'redis://:hunter2@cache:6379/0', /URL with a password/],
  ['a URL with a password inside a list', 'amqp://guest@mq,amqp://admin:Adm1n!@mq2', /URL with a password/],
  ['an OpenAI key', fake('sk-', 'proj-', 'Ab3dEf6hIj9kLm2nOp5qRs8tUv'), /OpenAI/],
  ['a legacy OpenAI key', fake('sk-', 'T3BlbkFJ', 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6'), /OpenAI/],
  ['a GitHub classic token', fake('ghp', '_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'), /GitHub/],
  ['a GitHub OAuth token', fake('gho', '_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'), /GitHub/],
  ['a GitHub server token', fake('ghs', '_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8'), /GitHub/],
  ['a GitHub fine-grained token', fake('github', '_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz'), /GitHub/],
  ['a Slack bot token', fake('xox', 'b-', '1234567890-0987654321-AbCdEfGhIjKl'), /Slack/],
  ['a Slack user token', fake('xox', 'p-', '1234567890-0987654321-AbCdEfGhIjKl'), /Slack/],
  ['an AWS access key id', fake('AKIA', 'IOSFODNN7EXAMPLE'), /AWS/],
  ['a Google API key', fake('AIza', 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q'), /Google API key/],
  ['a PEM private key header', fake('-----BEGIN ', 'RSA PRIVATE KEY', '-----MIIEpAIBAAKCAQEA'), /PEM/],
  ['a PEM PKCS#8 header', fake('-----BEGIN ', 'PRIVATE KEY', '-----'), /PEM/],
  ['a JWT', fake('eyJhbGciOiJIUzI1NiJ9', '.', 'eyJzdWIiOiIxMjM0NTY3ODkwIn0', '.', 'dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'), /JSON Web Token/],
  ['32 random bytes in base64', 'q8Xk2vN7pL4sR9tW1yZ3bC6dF0gH5jM8nQ2rT4uV7w=', /random-looking/],
  ['a random 24-character key', 'x7Gk2PqL9mN4rT8vW1yZ3bC5', /random-looking/],
  ['a random base64url key with separators', '3q2-7wEoX4Ks1_Jj9PmV0aBc', /random-looking/],
  ['a Django secret key', 'django-insecure-8h#k2!x9q$z@4m&w7p^v3r*t6y(u1b)n5c', /random-looking/],
  ['a key in a query string', 'https://api.example.com/v1?key=Zk3pQ9xL2mN8rT4vW7yB1cD5&lang=fr', /random-looking/],
];

const ordinaryValues: [string, string][] = [
  ['the health check URL', 'http://localhost:8080/health/'],
  ['a URL with a user but no password', 'postgresql://jobmatch@db:5432/jobmatch'],
  ['a URL whose password is a ${VAR} reference', 'postgresql://jobmatch:${POSTGRES_PASSWORD}@db/jobmatch'],
  ['a URL with a port and an @ in its path', 'http://host:8080/users/@me'],
  ['a bucket URL', 'https://jobmatch-staging-bronze-job-match-v0.storage.googleapis.com'],
  ['a hostname', 'jobmatch.staging.internal.example.com'],
  ['a service account email', 'jobmatch-staging-vm@job-match-v0.iam.gserviceaccount.com'],
  ['a path', '/opt/jobmatch/data/uploads/images/thumbnails2'],
  ['a resource path', 'projects/job-match-v0/locations/europe-west1/keyRings/jobmatch/cryptoKeys/app'],
  ['a boolean', 'false'],
  ['a number', '5432'],
  ['an image with a tag', 'europe-docker.pkg.dev/job-match-v0/jobmatch/api:v1.2.3-rc1'],
  ['an image with a date tag', 'eu.gcr.io/job-match-v0/backend:2024.11.25-3f2a1bc'],
  ['an image digest (hex is not flagged)', 'gcr.io/job-match-v0/api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
  ['a comma list', 'staging,prod,dev,local,qa,preview'],
  ['a list of feature flags', 'new_ranking_v2,fast_search,beta_UI_2024'],
  ['a model name', 'claude-3-5-sonnet-20241022'],
  ['an embedding model', 'sentence-transformers/all-MiniLM-L6-v2'],
  ['a long model id', 'paraphrase-multilingual-MiniLM-L12-v2'],
  ['an instruct model id', 'mistralai/Mixtral-8x7B-Instruct-v0.1'],
  ['a dataset name', 'jobmatch_staging_silver_dataset_2024_v2'],
  ['a pod-like name', 'jobmatch-backend-7f9c8d6b5-xk2lp'],
  ['a CamelCase identifier', 'ThisIsAVeryLongCamelCaseIdentifierName'],
  ['a UUID', '123e4567-e89b-12d3-a456-426614174000'],
  ['a timestamp', '2024-01-01T00:00:00.000Z'],
  ['a Cloud SQL connection name', 'job-match-v0:europe-west1:jobmatch-staging-pg'],
  ['a sentence', 'Welcome to JobMatch, the place where 2024 graduates find their first job'],
  ['a scikit-learn pipeline name', 'sk-learn-preprocessing-pipeline-v2'],
  ['a word that starts with sk-', 'sk-ui-theme'],
  ['an empty value', ''],
];

describe('secret-looking config values', () => {
  it.each(secretValues)('flags %s', (_, value, shape) => {
    expect(secretValueShape(value)).toMatch(shape);
  });

  it.each(ordinaryValues)('leaves %s alone', (_, value) => {
    expect(secretValueShape(value)).toBeUndefined();
  });

  it('flags freshly generated random keys of every common encoding', () => {
    const keys = Array.from({ length: 50 }, () => [
      randomBytes(32).toString('base64'), randomBytes(24).toString('base64url'), randomBytes(64).toString('base64'),
    ]).flat();
    const missed = keys.filter((k) => secretValueShape(k) === undefined);
    expect(missed.length).toBeLessThanOrEqual(keys.length * 0.05);
  });

  it('measures entropy in bits per character', () => {
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abab')).toBe(1);
    expect(shannonEntropy('abcdefghijklmnop')).toBe(4);
  });
});

const OPENAI = fake('sk-', 'proj-', 'Ab3dEf6hIj9kLm2nOp5qRs8tUv');

describe('app.config validation of values', () => {
  it('rejects a secret value with what it looks like and the fix, never echoing the value', () => {
    const text = mutated((d) => (d.spec.app.config.LLM_ENDPOINT_AUTH = OPENAI));
    const errors = loadManifests([{ file: 'm.yaml', text }]).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'config.secretValue', path: 'spec.app.config.LLM_ENDPOINT_AUTH' });
    expect(errors[0]!.message).toMatch(/OpenAI/);
    expect(errors[0]!.fix).toBe(
      'declare it in spec.secrets (the app reads it from Secret Manager), or list the key in spec.app.notSecret if it is not a secret',
    );
    expect(JSON.stringify(errors)).not.toContain('Ab3dEf6hIj9kLm2nOp5qRs8tUv');
  });

  it('never echoes the password of a URL', () => {
    const text = mutated((d) => (d.spec.app.config.DATABASE_URL = 'postgresql://jobmatch:Pa55-w0rd-xyz@db/jobmatch'));
    const errors = loadManifests([{ file: 'm.yaml', text }]).errors;
    expect(errors.map((e) => e.code)).toEqual(['config.secretValue']);
    expect(JSON.stringify(errors)).not.toContain('Pa55-w0rd-xyz');
  });

  it('reports a key that looks secret once, not also for its value', () => {
    const text = mutated((d) => (d.spec.app.config.OPENAI_API_KEY = OPENAI));
    expect(loadManifests([{ file: 'm.yaml', text }]).errors.map((e) => e.code)).toEqual(['config.secretLike']);
  });
});

describe('spec.app.notSecret', () => {
  it('exempts a listed key from the value check', () => {
    const text = mutated((d) => {
      d.spec.app.config.CACHE_NAMESPACE = 'x7Gk2PqL9mN4rT8vW1yZ3bC5';
      d.spec.app.notSecret = ['CACHE_NAMESPACE'];
    });
    expect(loadManifests([{ file: 'm.yaml', text }]).errors).toEqual([]);
  });

  it('exempts a listed key from the key-name check', () => {
    const text = mutated((d) => {
      d.spec.app.config.PASSWORD_MIN_LENGTH = '12';
      d.spec.app.notSecret = ['PASSWORD_MIN_LENGTH'];
    });
    expect(loadManifests([{ file: 'm.yaml', text }]).errors).toEqual([]);
  });

  it('exempts only the keys it lists', () => {
    const text = mutated((d) => {
      d.spec.app.config.PASSWORD_MIN_LENGTH = '12';
      d.spec.app.config.DB_PASSWORD = 'x';
      d.spec.app.notSecret = ['PASSWORD_MIN_LENGTH'];
    });
    expect(loadManifests([{ file: 'm.yaml', text }]).errors.map((e) => e.path)).toEqual(['spec.app.config.DB_PASSWORD']);
  });

  it('does not let a config key shadow a declared secret', () => {
    const text = mutated((d) => {
      d.spec.app.config.LLM_API_KEY = 'x';
      d.spec.app.notSecret = ['LLM_API_KEY'];
    });
    expect(loadManifests([{ file: 'm.yaml', text }]).errors.map((e) => e.code)).toEqual(['config.secretLike']);
  });

  it.each([
    ['a key missing from app.config', ['NOT_THERE'], 'config.notSecretUnknown', 'spec.app.notSecret[0]'],
    ['an inherited property name', ['constructor'], 'config.notSecretUnknown', 'spec.app.notSecret[0]'],
    ['a key listed twice', ['POSTGRES_HOST', 'POSTGRES_HOST'], 'duplicate', 'spec.app.notSecret[1]'],
    ['a key that is not a variable name', ['postgres_host'], 'config.notSecretUnknown', 'spec.app.notSecret[0]'],
    ['a list of numbers', [1], 'schema.type', 'spec.app.notSecret[0]'],
  ])('rejects %s', (_, notSecret, code, path) => {
    const errors = loadManifests([{ file: 'm.yaml', text: mutated((d) => (d.spec.app.notSecret = notSecret)) }]).errors;
    expect(errors, JSON.stringify(errors)).toContainEqual(expect.objectContaining({ code, path }));
  });
});
