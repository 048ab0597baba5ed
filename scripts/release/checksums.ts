/** SHA256SUMS in the format `sha256sum -c` reads: "<hex>  <file>" per file of the directory, sorted by name. */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CHECKSUMS_FILE = 'SHA256SUMS';

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function writeChecksums(dir: string): Promise<string[]> {
  const files = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && e.name !== CHECKSUMS_FILE).map((e) => e.name).sort();
  const lines = await Promise.all(files.map(async (name) => `${await sha256(join(dir, name))}  ${name}`));
  writeFileSync(join(dir, CHECKSUMS_FILE), `${lines.join('\n')}\n`);
  return files;
}
