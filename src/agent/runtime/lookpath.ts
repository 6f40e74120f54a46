// Finds an executable inside a container's root the way the container would (its PATH, its symlinks), from
// the host, so a missing command is reported as Kubernetes does before anything is started.
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';

/**
 * Resolves `path` (absolute, as seen inside the container) to a host path under `root`, following symlinks
 * relative to the container's root. Undefined if a component is missing or there are too many links.
 */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const todo = path.split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(root, ...done, part);
    const st = await lstat(host).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > 40) return undefined;
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return posix.join(root, ...done);
}

async function isExecutableFile(hostPath: string | undefined): Promise<boolean> {
  if (!hostPath) return false;
  const st = await lstat(hostPath).catch(() => undefined);
  return !!st && st.isFile() && (st.mode & 0o111) !== 0;
}

/**
 * The error text Go's exec.LookPath (which runc uses) gives for a command that cannot be found, or
 * undefined when it can: names with a slash are taken as paths, others are searched in PATH.
 */
export async function lookPathError(root: string, name: string, env: string[], cwd = '/'): Promise<string | undefined> {
  if (name.includes('/')) {
    const p = name.startsWith('/') ? name : posix.join(cwd, name);
    const host = await resolveInRoot(root, p);
    if (!host) return `exec: "${name}": stat ${name}: no such file or directory`;
    if (!(await isExecutableFile(host))) return `exec: "${name}": permission denied`;
    return undefined;
  }
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  for (const dir of pathVar.split(':')) {
    const d = dir === '' ? '.' : dir;
    const full = d.startsWith('/') ? posix.join(d, name) : posix.join(cwd, d, name);
    if (await isExecutableFile(await resolveInRoot(root, full))) return undefined;
  }
  return `exec: "${name}": executable file not found in $PATH`;
}
