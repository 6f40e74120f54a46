// Modes of the files that hold credentials, re-applied on every start: a data dir or key copied, restored
// from a backup or loosened by hand is tightened again, not only when the file is first made.
import { chmodSync, existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Files of a data dir that hold secrets: private keys, tokens, kubeconfigs, the datastore (it holds Secrets),
 *  the encryption-at-rest keys (`k8ts up` writes encryption-config.yaml). */
const SECRET_FILE = /(\.key|\.token|^kubeconfig.*|^store\.db(-wal|-shm)?|^encryption-config\.yaml)$/;

/** chmod 0700 on dir and 0600 on every secret-bearing regular file in it and in pki/ (never through a
 *  symlink); returns the paths whose mode was changed. */
export function tightenDataDir(dir: string): string[] {
  const changed: string[] = [];
  const set = (p: string, mode: number) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o777) !== mode) {
      chmodSync(p, mode);
      changed.push(p);
    }
  };
  set(dir, 0o700);
  for (const sub of ['', 'pki']) {
    const d = join(dir, sub);
    if (!existsSync(d) || !lstatSync(d).isDirectory()) continue;
    if (sub) set(d, 0o700);
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isFile() && SECRET_FILE.test(e.name)) set(join(d, e.name), 0o600);
    }
  }
  return changed;
}
