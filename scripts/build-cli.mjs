// Bundles the CLI (dist/src/cli/main.js and everything it imports, the npm packages included) into one
// CommonJS file, dist/src/cli/k8ts.cjs, with esbuild. Why: every k8ts process (the server, each agent,
// every CLI call) used to spend ~1.4 s of CPU resolving, reading and compiling ~800 ES module files
// before its first line of work; the bundle takes about a third of that (measured with /usr/bin/time).
// CommonJS, because V8 compiles a classic script's functions lazily and an ES module's eagerly.
// The bundle sits beside main.js, so both are three levels below the repository root (src/util/layout.ts
// finds the build's files from there). bin/k8ts and the lab run the bundle only when it is newer than
// main.js, so a later `tsc` alone never leaves a stale bundle in use.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile: join(root, 'dist/src/cli/k8ts.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Loaded from node_modules at run time: a native addon, and packages read through their own files.
  external: ['better-sqlite3', 'etcd3', 'playwright-core', 'typescript'],
  // Every bundled module's import.meta.url is the bundle's own URL (see src/util/layout.ts).
  define: { 'import.meta.url': '__k8ts_bundle_url' },
  banner: { js: "const __k8ts_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
