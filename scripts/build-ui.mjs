// Bundles the topology page's script (src/ui/page/app.js with cytoscape) into dist/ui/app.js with esbuild:
// the page is served by `k8ts ui` itself and loads nothing from anywhere else.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'src/ui/page/app.js')],
  outfile: join(root, 'dist/ui/app.js'),
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  // K8TS_UI_DEBUG=1: readable names, for a CPU profile (bench/ui.ts --profile).
  minify: !process.env.K8TS_UI_DEBUG,
  sourcemap: false,
  legalComments: 'linked',
  logLevel: 'warning',
});
