// The image's `User` as runc needs it: numbers, looked up by name in the image's own /etc/passwd and
// /etc/group (read through the layers top-down, a whiteout hiding the file), with the supplementary groups
// the user is a member of, as containerd does.
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export class UserLookupError extends Error {
  readonly code = 'UserLookup';
}

/** The file at `rel` as the overlay of lowerdirs (top first) shows it, or undefined. */
export function readImageFile(lowerdirs: string[], rel: string, limit = 4 << 20): string | undefined {
  for (const d of lowerdirs) {
    const p = join(d, rel);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isCharacterDevice() && st.rdev === 0) return undefined; // whited out
    if (!st.isFile() || st.size > limit) return undefined;
    return readFileSync(p, 'utf8');
  }
  return undefined;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function passwd(text: string | undefined): PasswdEntry[] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3]))
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) }));
}

function groups(text: string | undefined): GroupEntry[] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[2]))
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

const ID_MAX = 2 ** 32 - 2;

/** Resolves `user[:group]` (names or numbers) against the image's files. An empty user is root. */
export function resolveUser(spec: string | undefined, lowerdirs: string[]): ProcessUser {
  if (!spec) return { uid: 0, gid: 0 };
  const [u, g] = spec.split(':', 2);
  const users = passwd(readImageFile(lowerdirs, 'etc/passwd'));
  const grps = () => groups(readImageFile(lowerdirs, 'etc/group'));
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const e = users.find((x) => x.uid === uid);
    gid = e?.gid ?? 0;
    name = e?.name;
  } else {
    const e = users.find((x) => x.name === u);
    if (!e) throw new UserLookupError(`unable to find user ${u}: no matching entries in the image's /etc/passwd`);
    uid = e.uid;
    gid = e.gid;
    name = e.name;
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const e = grps().find((x) => x.name === g);
      if (!e) throw new UserLookupError(`unable to find group ${g}: no matching entries in the image's /etc/group`);
      gid = e.gid;
    }
  }
  if (uid > ID_MAX || gid! > ID_MAX) throw new UserLookupError(`user ${JSON.stringify(spec)}: id out of range`);
  const extra = name
    ? grps()
        .filter((x) => x.members.includes(name!) && x.gid !== gid)
        .map((x) => x.gid)
    : [];
  return { uid, gid: gid!, ...(extra.length ? { additionalGids: [...new Set(extra)] } : {}) };
}
