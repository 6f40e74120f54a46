// `k8ts image import|ls|pull`: images into the stores of a lab cluster's nodes (like `kind load`), or of one
// node's store given by --images-dir. One progress line per step on stderr, the listing on stdout.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { importArchive } from '../agent/images/archive.js';
import { Puller, fmtBytes } from '../agent/images/pull.js';
import { parseReference, repository } from '../agent/images/reference.js';
import { Registries } from '../agent/images/registries.js';
import { ImageStore } from '../agent/images/store.js';
import { loadPlan } from '../lab/plan.js';
import { k8tsHome } from '../lab/paths.js';
import { stepLine } from '../lab/steps.js';
import { progress } from '../lab/progress.js';
import { type FlagSpec, UsageError, flagHelp, parseFlags, type Flags } from './args.js';

const FLAGS = {
  name: { type: 'string', default: 'default', help: 'lab cluster whose nodes get the images', metavar: 'CLUSTER' },
  'images-dir': { type: 'string', help: "one node's image store instead of a lab cluster's (an agent's DATA-DIR/images)", metavar: 'DIR' },
  registries: {
    type: 'string',
    help: "registries.yaml for pull (mirrors, credentials, TLS); default: the cluster's, if `k8ts up --registries` gave one",
    metavar: 'FILE',
  },
  help: { type: 'boolean', help: 'show this help' },
} satisfies FlagSpec;

export const imageHelp = `Usage: k8ts image import [--name CLUSTER] FILE...
       k8ts image pull [--name CLUSTER] [--registries FILE] REF...
       k8ts image ls [--name CLUSTER]

import  loads images into every node of a lab cluster (like kind load): a docker save archive, an OCI image
        layout directory, or a tar of one. Pods use them with imagePullPolicy IfNotPresent or Never (a
        :latest tag means Always: give imported images another tag).
pull    pulls images from their registries (or mirrors) into every node, to warm the stores.
ls      lists each node's images: name, image id, size.

With --images-dir DIR, the command works on that one store instead (a node outside the lab).

Flags:
${flagHelp(FLAGS)}
`;

async function stores(flags: Flags<typeof FLAGS>): Promise<{ node: string; store: ImageStore; registries?: string }[]> {
  if (flags['images-dir']) return [{ node: resolve(flags['images-dir']), store: new ImageStore(resolve(flags['images-dir'])) }];
  const plan = await loadPlan(k8tsHome(), flags.name).catch(() => {
    throw new UsageError(`no lab cluster ${JSON.stringify(flags.name)} (k8ts up makes one; or name a store with --images-dir)`);
  });
  const regs = join(plan.dir, 'registries.yaml');
  return plan.nodes.map((n) => ({ node: n.name, store: new ImageStore(join(n.dir, 'images')), registries: existsSync(regs) ? regs : undefined }));
}

const log = (ok: boolean, line: string, ms: number) => progress.line(stepLine(ok, line, ms));

export async function imageCommand(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv, FLAGS);
  const [verb, ...args] = rest;
  if (flags.help || !verb) return void process.stdout.write(imageHelp);
  const targets = await stores(flags);
  switch (verb) {
    case 'import': {
      if (!args.length) throw new UsageError('k8ts image import: name at least one FILE (a docker save archive or an OCI layout)');
      for (const f of args) if (!existsSync(f)) throw new UsageError(`k8ts image import: ${f}: no such file or directory`);
      for (const { node, store } of targets) {
        for (const f of args) {
          progress.begin(`Importing ${f} into ${node}`);
          const t0 = performance.now();
          try {
            const got = await importArchive(store, resolve(f));
            log(true, `Imported ${got.map((g) => g.name).join(', ')} into ${node}`, performance.now() - t0);
          } catch (e) {
            log(false, `Importing ${f} into ${node}`, performance.now() - t0);
            throw e;
          }
        }
      }
      return;
    }
    case 'pull': {
      if (!args.length) throw new UsageError('k8ts image pull: name at least one image reference');
      for (const a of args) parseReference(a);
      for (const { node, store, registries } of targets) {
        const file = flags.registries ?? registries;
        const puller = new Puller(store, file ? Registries.fromFile(file) : Registries.empty());
        try {
          for (const ref of args) {
            progress.begin(`Pulling ${ref} into ${node}`);
            const t0 = performance.now();
            try {
              const r = await puller.pull(ref, {
                progress: (p) => {
                  if (p.step === 'done') return;
                  log(true, `${node}: ${p.step === 'resolved' ? 'Resolved' : 'Layer'} ${p.detail}`, p.ms);
                  progress.begin(`Pulling ${ref} into ${node}`);
                },
              });
              log(true, `Pulled ${r.record.name} into ${node} (${fmtBytes(r.fetched)} fetched, image ${fmtBytes(r.record.size)})`, performance.now() - t0);
            } catch (e) {
              log(false, `Pulling ${ref} into ${node}`, performance.now() - t0);
              throw e;
            }
          }
        } finally {
          puller.close();
        }
      }
      return;
    }
    case 'ls': {
      const rows: string[][] = [['NODE', 'IMAGE', 'IMAGE ID', 'SIZE']];
      for (const { node, store } of targets) {
        for (const r of (await store.listImages()).sort((a, b) => a.name.localeCompare(b.name))) {
          rows.push([
            node,
            r.builtin ? `${r.name} (built-in, any tag of ${repository(parseReference(r.name))})` : r.name,
            r.config.slice(7, 19),
            fmtBytes(r.size),
          ]);
        }
      }
      const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('   ')).join('\n') + '\n');
      return;
    }
    default:
      throw new UsageError(`k8ts image: unknown command ${JSON.stringify(verb)} (import, pull, ls)`);
  }
}
