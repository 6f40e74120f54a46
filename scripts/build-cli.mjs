// Bundles the CLI (dist/src/cli/main.js and everything it imports, the npm packages included) into one
// CommonJS file, dist/src/cli/k8ts-main.cjs, with esbuild; dist/src/cli/k8ts.cjs (scripts/cli-boot.cjs)
// runs it from V8's code cache. Why: every k8ts process (the server, each agent,
// every CLI call) used to spend ~1.4 s of CPU resolving, reading and compiling ~800 ES module files
// before its first line of work; the bundle takes about a third of that (measured with /usr/bin/time).
// CommonJS, because V8 compiles a classic script's functions lazily and an ES module's eagerly.
// The bundle sits beside main.js, so both are three levels below the repository root (src/util/layout.ts
// finds the build's files from there). bin/k8ts and the lab run the bundle only when it is newer than
// main.js, so a later `tsc` alone never leaves a stale bundle in use.
import { build } from 'esbuild';
import { copyFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist/src/cli');
// Code caches of earlier bundles (cli-boot.cjs names each by its bundle) can never match again; the map
// and legal notes of the time the bundle itself was k8ts.cjs would describe the wrong file.
for (const f of await readdir(outDir))
  if (/^(\.k8ts-main\..*\.v8cache|k8ts\.cjs\.map|k8ts\.cjs\.LEGAL\.txt)$/.test(f)) await rm(join(outDir, f), { force: true });
await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile: join(outDir, 'k8ts-main.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Loaded from node_modules at run time: a native addon, and packages read through their own files.
  external: ['better-sqlite3', 'playwright-core', 'typescript'],
  // Each bundled module keeps its own import.meta.url: the URL of the file it was bundled from, found
  // relative to the bundle (so a module's files, a worker script beside it or an "am I the main script"
  // check work as they do in the module tree, and the checkout may move).
  banner: { js: "const __k8ts_module_url = (rel) => require('node:url').pathToFileURL(require('node:path').join(__dirname, rel)).href;" },
  plugins: [
    {
      name: 'own-import-meta-url',
      setup(b) {
        b.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
          const text = await readFile(args.path, 'utf8');
          if (!text.includes('import.meta.url')) return undefined;
          // A call to the banner's function: a module may shadow require, never this name.
          const own = `__k8ts_module_url(${JSON.stringify(relative(outDir, args.path))})`;
          return { contents: text.replaceAll('import.meta.url', own), loader: 'js', resolveDir: dirname(args.path) };
        });
      },
    },
  ],
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
// V8 keeps every script's source for life, as one byte per character when all are Latin-1 and two otherwise:
// a single '→' in a comment doubled the 3.4 MB bundle's share of every server's and agent's memory. And the
// entry (cli-boot.cjs) reads the file as Latin-1, a plain copy, where decoding it as UTF-8 cost ~35 ms of every
// process's start-up: so every character beyond ASCII becomes its \u escape, which means the same in a
// string, a template, a regular expression, an identifier or a comment (a tagged template that reads `.raw`
// would see the escape, and none of the bundle's tags does). The file is then ASCII, the same text in both.
{
  const out = join(outDir, 'k8ts-main.cjs');
  const text = await readFile(out, 'utf8');
  if (/\\[\u0080-\uffff]/.test(text))
    throw new Error('build-cli: a character beyond ASCII follows a backslash in the bundle; escaping it would change its meaning');
  const ascii = text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) await writeFile(out, ascii);
}
// The entry, written last: bin/k8ts and the lab compare its time with main.js's.
await copyFile(join(root, 'scripts/cli-boot.cjs'), join(outDir, 'k8ts.cjs'));
