// The walls between k8ts's packages, written down and checked (as Kubernetes' import-boss does): every
// import of every TypeScript file is read with TypeScript's own parser and held against the rules below.
//
//   api, util          leaves: import nothing of the project outside their own folder
//   store              a leaf below the API server: may import util only
//   client             the one door to the API: may import api and util only
//   apiserver          knows no controller: never imports controllers, agent, dns, server, cli or lab
//   controllers, agent, dns
//                      reach the cluster only through a Client: never import apiserver or store
//   agent, controllers never import each other
//   server             the top of the house (starts store, API server, controllers); only cli imports it,
//                      and tests anywhere may, to get a real control plane
//   testing            harnesses shared by tests (a fake API for kubectl, eventually()): only tests import it
//   any two files      never import each other (no cycle of length 2)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

export interface Rule {
  /** Package (first folder under src/) of the importing file. */
  from: string;
  /** Packages it may not import (or, with only, the only ones it may import besides its own). */
  deny?: string[];
  only?: string[];
  why: string;
}

export const RULES: Rule[] = [
  { from: 'api', only: [], why: 'api is the leaf every package may use: it imports nothing of the project outside api/' },
  { from: 'util', only: [], why: 'util is a leaf: it imports nothing of the project outside util/' },
  { from: 'store', only: ['util'], why: 'store is a leaf below the API server: it imports nothing of the project outside store/ and util/' },
  { from: 'client', only: ['api', 'util'], why: 'client is the door to the API: it imports only api/ and util/' },
  { from: 'apiserver', deny: ['controllers', 'agent', 'dns', 'server', 'cli', 'lab'], why: 'apiserver knows no controller, agent or start-up wiring' },
  {
    from: 'controllers',
    deny: ['apiserver', 'store', 'agent', 'server', 'cli', 'lab'],
    why: 'controllers reach the cluster only through a Client, and never import the agent',
  },
  {
    from: 'agent',
    deny: ['apiserver', 'store', 'controllers', 'server', 'cli'],
    why: 'the agent reaches the cluster only through a Client, and never imports controllers',
  },
  { from: 'dns', deny: ['apiserver', 'store', 'controllers', 'server', 'cli', 'lab'], why: 'dns reaches the cluster only through a Client' },
  { from: 'testing', only: [], why: 'testing holds harnesses that stand on their own: it imports nothing of the project' },
  { from: 'lab', deny: ['apiserver', 'store', 'controllers', 'server'], why: "the lab drives processes and the host network, not the control plane's insides" },
];

/** Tests may import the top of the house to get a real control plane, and the shared test harnesses. */
const TEST_MAY_IMPORT = new Set(['server', 'testing']);

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Project files a file imports (import, export … from, import(), import type), as absolute .ts paths. */
export function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const out: string[] = [];
  for (const f of info.importedFiles) {
    if (!f.fileName.startsWith('.')) continue;
    out.push(resolve(dirname(file), f.fileName).replace(/\.js$/, '.ts'));
  }
  return out;
}

const isTest = (rel: string) => /\.test\.ts$/.test(rel) || /(^|\/)(testutil|testing)(\.ts|\/)/.test(rel) || /(^|\/)testkit\.ts$/.test(rel);

/** Check every file under root/src; returns what breaks a wall. */
export function checkWalls(root: string): Violation[] {
  const src = join(root, 'src');
  const files = walk(src, []);
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f, importsOf(f));
  const pkg = (abs: string) => relative(src, abs).split(sep)[0];
  const out: Violation[] = [];
  for (const [file, deps] of graph) {
    const rel = relative(src, file).split(sep).join('/');
    const from = pkg(file);
    for (const dep of deps) {
      const relDep = relative(src, dep).split(sep).join('/');
      if (relDep.startsWith('..')) continue;
      const to = pkg(dep);
      if (to === from) continue;
      if (isTest(rel) && TEST_MAY_IMPORT.has(to)) continue;
      for (const r of RULES) {
        if (r.from !== from) continue;
        const bad = r.only ? !r.only.includes(to) : r.deny!.includes(to);
        if (bad) out.push({ file: `src/${rel}`, imports: `src/${relDep}`, rule: r.why });
      }
      if (to === 'testing' && !isTest(rel) && from !== 'testing') {
        out.push({ file: `src/${rel}`, imports: `src/${relDep}`, rule: 'testing holds test harnesses: only tests import it' });
      }
      if (to === 'server' && from !== 'cli' && !isTest(rel)) {
        out.push({ file: `src/${rel}`, imports: `src/${relDep}`, rule: 'server is the top of the house: only cli (and tests) import it' });
      }
    }
    for (const dep of deps) {
      if (dep !== file && graph.get(dep)?.includes(file) && file < dep) {
        out.push({ file: `src/${rel}`, imports: `src/${relative(src, dep).split(sep).join('/')}`, rule: 'two files import each other' });
      }
    }
  }
  return out;
}
