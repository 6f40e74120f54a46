// Where this build's files are: the repository root and the files of dist/ that several modules need (the
// page's script, the OpenAPI definitions, the DNS worker, the CLI to spawn). This module sits in
// dist/src/util (or src/util when run from source). The CLI bundle (scripts/build-cli.mjs) keeps each
// module's own import.meta.url, so this holds there too.
import { statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root. */
export const ROOT = resolve(here, here.includes(`${sep}dist${sep}src${sep}`) ? '../../..' : '../..');

/** A file of the build, by its path under dist/ (`src/dns/worker.js`, `ui/app.js`). */
export function distFile(path: string): string {
  return join(ROOT, 'dist', path);
}

/** The CLI's entry: runs the one-file bundle (k8ts-main.cjs, which starts three times faster than the module
 *  tree it is built from) from V8's code cache (scripts/cli-boot.cjs). */
export const CLI_BUNDLE = distFile('src/cli/k8ts.cjs');

/** The k8ts CLI entry to run: the bundle when the build made one and no later tsc made it older than the
 *  module tree (as bin/k8ts chooses), else the module tree's main. */
export function cliEntry(): string {
  const main = distFile('src/cli/main.js');
  try {
    return statSync(CLI_BUNDLE).mtimeMs >= statSync(main).mtimeMs ? CLI_BUNDLE : main;
  } catch {
    return main;
  }
}
