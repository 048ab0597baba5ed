/**
 * The real Google Cloud CLI pointed at a sandbox, so a test can run, in one line,
 * `await gcloud('compute', 'instances', 'add-metadata', 'vm', '--zone', ZONE, '--metadata', 'k=v')`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type Run } from './run-command.js';

export const GCLOUD_INSTALL_HINT = 'install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install, or on Debian/Ubuntu '
  + '`apt-get install google-cloud-cli` (from Google\'s apt repository)';

/** Each API gcloud may call, with the path its generated client puts before the method's (its BASE_URL's path). */
const API_PATHS: Record<string, string> = {
  COMPUTE: 'compute/v1/',
  STORAGE: 'storage/v1/',
  BIGQUERY: 'bigquery/v2/',
  LOGGING: '',
  SECRETMANAGER: '',
  IAM: '',
  IAMCREDENTIALS: '',
  CLOUDRESOURCEMANAGER: '',
};

export type Gcloud = (...args: string[]) => Promise<Run>;

/** The environment gcloud runs in: every API at the sandbox, a fresh config dir, a token the sandbox accepts, no prompts. */
export function gcloudEnv(sandboxUrl: string, project: string): NodeJS.ProcessEnv {
  // Nothing of the developer's own gcloud setup (account, overrides, proxy) leaks in.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLOUDSDK_') && k !== 'GOOGLE_APPLICATION_CREDENTIALS'));
  const base = sandboxUrl.replace(/\/$/, '');
  return {
    ...inherited,
    ...Object.fromEntries(Object.entries(API_PATHS).map(([api, path]) => [`CLOUDSDK_API_ENDPOINT_OVERRIDES_${api}`, `${base}/${path}`])),
    CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'jme-gcloud-')),
    CLOUDSDK_CORE_PROJECT: project,
    CLOUDSDK_AUTH_ACCESS_TOKEN: 'sandbox',
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_SURVEY_DISABLE_PROMPTS: 'true',
    CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
    CLOUDSDK_CORE_DISABLE_FILE_LOGGING: 'true',
  };
}

/** A gcloud bound to one sandbox and project: its exit code and output; throws with the install hint when gcloud is missing. */
export function gcloudAgainst(sandboxUrl: string, project: string): Gcloud {
  const env = gcloudEnv(sandboxUrl, project);
  return async (...args: string[]) => {
    const run = await runCommand('gcloud', args, { env });
    if (!run) throw new Error(`gcloud was not found: ${GCLOUD_INSTALL_HINT}`);
    return run;
  };
}
