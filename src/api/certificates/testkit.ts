// For the certificate tests: openssl as the independent judge of what x509.ts writes and the maker of what it reads.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** openssl with `args` (and `input` on its stdin): its stdout, or an error carrying its stderr. */
export function openssl(args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The key options of a P-256 key. */
export const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** A new key (DIR/NAME.key) and a request for `subj` signed with it, asking for `addext`: its PEM (DIR/NAME.csr). */
export function opensslCsr(dir: string, name: string, subj: string, newkey: string[] = EC_KEY, addext: string[] = []): string {
  const out = join(dir, `${name}.csr`);
  openssl(['req', '-new', ...newkey, '-nodes', '-keyout', join(dir, `${name}.key`), '-out', out, '-subj', subj, ...addext.flatMap((e) => ['-addext', e])]);
  return readFileSync(out, 'utf8');
}
