// The k8ts command's first file (the build copies it to dist/src/cli/k8ts.cjs): it runs the one-file
// bundle, k8ts-main.cjs, from V8's code cache when one matches, as Node 22's module compile cache does
// (Node 20 has none). Compiling the 3 MB bundle was about a fifth of every k8ts process's start-up CPU.
// The cache sits beside the bundle, named by the bundle's identity (size, mtime, inode) and Node's
// version, so a rebuilt bundle never meets an old cache; V8 also refuses a cache made with other flags.
// The first process that finds no usable cache writes one when it exits, with everything it compiled.
'use strict';
const { readFileSync, renameSync, statSync, writeFileSync, unlinkSync } = require('node:fs');
const { dirname, join } = require('node:path');
const Module = require('node:module');
const vm = require('node:vm');

const bundle = join(__dirname, 'k8ts-main.cjs');
const st = statSync(bundle);
const cacheFile = join(__dirname, `.k8ts-main.${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}.${process.version}.v8cache`);
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
cachedData = undefined;
if (!usable) {
  process.once('exit', () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, script.createCachedData());
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
