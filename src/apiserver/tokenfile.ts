// Static token file, as kube-apiserver's --token-auth-file reads it: CSV lines `token,user,uid[,"g1,g2"]`;
// blank lines and lines starting with # are skipped. Every mistake names its line.
import { readFileSync } from 'node:fs';
import type { UserInfo } from './authz/attributes.js';

/** Splits one CSV record (RFC 4180 quoting). */
function csvFields(line: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new Error(`${where}: unterminated quoted field`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error(`${where}: extraneous text after a quoted field`);
      out.push(v);
      i++;
    } else {
      const j = line.indexOf(',', i);
      const end = j < 0 ? line.length : j;
      const v = line.slice(i, end);
      if (v.includes('"')) throw new Error(`${where}: bare " in an unquoted field`);
      out.push(v);
      i = end + 1;
    }
  }
  return out;
}

/** Parses token file text into token → user. */
export function parseTokenFile(text: string, name = 'token file'): Map<string, UserInfo> {
  const out = new Map<string, UserInfo>();
  text.split(/\r?\n/).forEach((raw, idx) => {
    const where = `${name} line ${idx + 1}`;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const f = csvFields(line, where);
    if (f.length < 3) throw new Error(`${where}: expected token,user,uid[,"group1,group2"], got ${f.length} field(s)`);
    const [token, user, uid] = f;
    if (!token) throw new Error(`${where}: the token is empty`);
    if (!user) throw new Error(`${where}: the user name is empty`);
    if (out.has(token)) throw new Error(`${where}: duplicate token`);
    const groups =
      f.length > 3
        ? f[3]
            .split(',')
            .map((g) => g.trim())
            .filter(Boolean)
        : [];
    out.set(token, { name: user, ...(uid ? { uid } : {}), groups });
  });
  return out;
}

export function readTokenFile(path: string): Map<string, UserInfo> {
  return parseTokenFile(readFileSync(path, 'utf8'), path);
}
