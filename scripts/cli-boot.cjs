// The k8ts command's first file (the build copies it to dist/src/cli/k8ts.cjs): it runs the one-file
// bundle, k8ts-main.cjs, from V8's code cache when one matches, as Node 22's module compile cache does
// (Node 20 has none). Compiling the 3 MB bundle was about a fifth of every k8ts process's start-up CPU.
// The cache sits beside the bundle, named by the bundle's identity (size, mtime, inode) and Node's
// version, so a rebuilt bundle never meets an old cache; V8 also refuses a cache made with other flags.
// The first process of a role (cacheFile) that finds no usable cache writes one when it exits, with everything
// it compiled.
'use strict';
const { readFileSync, renameSync, statSync, writeFileSync, unlinkSync } = require('node:fs');
const { dirname, join } = require('node:path');
const Module = require('node:module');
const vm = require('node:vm');

const bundle = join(__dirname, 'k8ts-main.cjs');
const st = statSync(bundle);
// One cache per role: main.ts loads a role's modules only when that role runs, so a server, an agent and a
// CLI call compile different parts of the bundle, and each role's first process writes what it compiled.
const ROLES = new Set(['server', 'agent', 'up', 'down', 'simulate', 'ui', 'trace', 'image']);
const role = ROLES.has(process.argv[2]) ? process.argv[2] : 'cli';
const cacheFile = join(__dirname, `.k8ts-main.${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}.${process.version}.${role}.v8cache`);
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {}
// The build leaves the bundle ASCII (build-cli.mjs), so reading it as Latin-1 is exact: a copy, where UTF-8
// decoding took ~35 ms of each start.
const script = new vm.Script(Module.wrap(readFileSync(bundle, 'latin1')), {
  filename: bundle,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
// The cache's bytes are not needed once compiled (V8 copied what it kept): a server would hold 2 MB for life.
const usable = cachedData !== undefined && !script.cachedDataRejected;
const cachedBytes = usable ? cachedData.length : 0;
cachedData = undefined;
// A long-lived role that ran a while also replaces a cache that holds less than it compiled: the role's first
// process may have been one that stopped early (a usage error, a server that failed to start), and every
// later one would compile the rest at each start. Serialising costs a few ms at exit, paid by these roles only.
const LONG_LIVED = new Set(['server', 'agent', 'simulate', 'ui']);
if (!usable || LONG_LIVED.has(role)) {
  process.once('exit', () => {
    let data;
    if (usable) {
      if (process.uptime() < 2) return;
      data = script.createCachedData();
      if (data.length < cachedBytes * 1.1) return;
    }
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, data ?? script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // A read-only checkout runs without a cache.
      try {
        unlinkSync(tmp);
      } catch {}
    }
  });
}
const m = new Module(bundle, module);
m.filename = bundle;
m.paths = Module._nodeModulePaths(__dirname);
script.runInThisContext().call(m.exports, m.exports, Module.createRequire(bundle), m, bundle, dirname(bundle));
