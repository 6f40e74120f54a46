// Unpacks one layer's tar into a directory of its own, in overlayfs's form: an OCI whiteout `.wh.NAME`
// becomes a 0:0 character device NAME and an opaque marker `.wh..wh..opq` the `trusted.overlay.opaque=y`
// xattr on its directory. Each layer is then a lowerdir by itself, independent of the layers below it,
// so one unpacked layer serves every image that shares it. Entries never leave the directory: `..`,
// absolute names and paths through a symlink are refused, hard links must point inside the layer.
import { spawn } from 'node:child_process';
import {
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  chmodSync,
  chownSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { extract, type Headers } from 'tar-stream';

/** The system call numbers the fix-up helper needs (mknodat, lsetxattr), per Node architecture. */
const SYSCALLS: Record<string, { mknodat: number; lsetxattr: number }> = {
  x64: { mknodat: 259, lsetxattr: 189 },
  arm64: { mknodat: 33, lsetxattr: 6 },
  riscv64: { mknodat: 33, lsetxattr: 6 },
  loong64: { mknodat: 33, lsetxattr: 6 },
};

/**
 * Node has neither mknod nor setxattr; perl-base (Essential on Debian, already the container shim) makes
 * them through `syscall`, one process per layer that needs any. Records on stdin: an op letter and
 * hex-encoded fields, so names with any byte pass unharmed.
 */
const FIXUP_SCRIPT = String.raw`
my ($MKNODAT, $LSETXATTR) = map { $_ + 0 } @ARGV;
while (my $l = <STDIN>) {
  chomp $l;
  my ($op, @h) = split / /, $l, -1;
  my @v = map { pack('H*', $_) } @h;
  if ($op eq 'W') {
    syscall($MKNODAT, -100, $v[0], 0020000, 0) == 0 or die "mknod whiteout $v[0]: $!\n";
  } elsif ($op eq 'O') {
    my ($name, $val) = ("trusted.overlay.opaque", "y");
    syscall($LSETXATTR, $v[0], $name, $val, 1, 0) == 0 or die "setxattr opaque $v[0]: $!\n";
  } elsif ($op eq 'X') {
    syscall($LSETXATTR, $v[0], $v[1], $v[2], length($v[2]), 0) == 0 or warn "setxattr $v[1] on $v[0]: $!\n";
  } elsif ($op eq 'D') {
    my ($mode, $maj, $min, $uid, $gid) = map { $_ + 0 } @v[1..5];
    my $dev = ($min & 0xff) | (($maj & 0xfff) << 8) | (($min & ~0xff) << 12) | (($maj & ~0xfff) << 32);
    syscall($MKNODAT, -100, $v[0], $mode, $dev) == 0 or die "mknod $v[0]: $!\n";
    chown($uid, $gid, $v[0]);
  }
}
`;

const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');

export interface UnpackResult {
  /** Entries written (files, dirs, links, devices), whiteouts and opaque dirs among them. */
  entries: number;
  whiteouts: number;
  opaques: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Extended attributes left out because tar-stream hands PAX values over as UTF-8 text and these were binary. */
  skippedXattrs: number;
}

export class UnpackError extends Error {
  readonly code = 'BadLayer';
}

const IFMT: Record<string, number> = { 'character-device': 0o020000, 'block-device': 0o060000, fifo: 0o010000 };

/** Unpacks the tar stream `input` into `dest` (which must exist and be empty). */
export async function unpackLayer(input: Readable, dest: string): Promise<UnpackResult> {
  const res: UnpackResult = { entries: 0, whiteouts: 0, opaques: 0, bytes: 0, skippedXattrs: 0 };
  const fixups: string[] = [];
  // Directories this layer has proven to be real directories (relative paths; '' is dest itself).
  const dirs = new Set<string>(['']);
  // Regular files written by this layer: the only valid hard link targets.
  const files = new Set<string>();
  const dirMeta: { rel: string; h: Headers }[] = [];
  const ex = extract();

  const abs = (rel: string) => (rel ? join(dest, rel) : dest);
  const clean = (name: string, what: string): string => {
    if (name.includes('\0')) throw new UnpackError(`${what} ${JSON.stringify(name)} contains a NUL byte`);
    const n = posix.normalize(`/${name}`).slice(1).replace(/\/+$/, '');
    if (n === '..' || n.startsWith('../')) throw new UnpackError(`${what} ${JSON.stringify(name)} leaves the layer`);
    return n === '.' ? '' : n;
  };
  const ensureDir = (rel: string): void => {
    if (dirs.has(rel)) return;
    ensureDir(posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
    try {
      const st = lstatSync(abs(rel));
      if (!st.isDirectory()) throw new UnpackError(`layer path ${rel} goes through ${st.isSymbolicLink() ? 'a symlink' : 'a file'}: refused`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(abs(rel), { mode: 0o755 });
    }
    dirs.add(rel);
  };
  const clear = (rel: string): void => {
    // Something earlier in this same tar at this path: the later entry wins, as with tar -x.
    try {
      const st = lstatSync(abs(rel));
      if (st.isDirectory()) {
        rmSync(abs(rel), { recursive: true, force: true });
        for (const d of [...dirs]) if (d === rel || d.startsWith(`${rel}/`)) dirs.delete(d);
      } else rmSync(abs(rel), { force: true });
      files.delete(rel);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  };
  const owner = (h: Headers) => ({ uid: h.uid ?? 0, gid: h.gid ?? 0 });
  const xattrs = (rel: string, h: Headers) => {
    for (const [k, v] of Object.entries((h as Headers & { pax?: Record<string, string> }).pax ?? {})) {
      if (!k.startsWith('SCHILY.xattr.')) continue;
      if (v.includes('\uFFFD')) {
        res.skippedXattrs++;
        continue;
      }
      fixups.push(['X', hex(abs(rel)), hex(k.slice('SCHILY.xattr.'.length)), hex(v)].join(' '));
    }
  };

  const entry = async (h: Headers, stream: Readable): Promise<void> => {
    const rel = clean(h.name, 'layer entry');
    const base = posix.basename(rel);
    const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    if (rel === '') {
      stream.resume();
      return;
    }
    if (base.startsWith('.wh.')) {
      stream.resume();
      ensureDir(parent);
      if (base === '.wh..wh..opq') {
        fixups.push(['O', hex(abs(parent))].join(' '));
        res.opaques++;
      } else {
        const target = parent ? `${parent}/${base.slice(4)}` : base.slice(4);
        if (base.length === 4 || (target.includes('/') && posix.basename(target) !== base.slice(4)))
          throw new UnpackError(`bad whiteout ${JSON.stringify(h.name)}`);
        clear(target);
        fixups.push(['W', hex(abs(target))].join(' '));
        res.whiteouts++;
      }
      return;
    }
    ensureDir(parent);
    const p = abs(rel);
    const { uid, gid } = owner(h);
    const mtime = h.mtime ?? new Date(0);
    res.entries++;
    switch (h.type) {
      case 'directory': {
        stream.resume();
        if (!dirs.has(rel)) {
          try {
            if (!lstatSync(p).isDirectory()) clear(rel);
          } catch {
            /* absent */
          }
          mkdirSync(p, { recursive: true, mode: 0o755 });
          dirs.add(rel);
        }
        dirMeta.push({ rel, h });
        xattrs(rel, h);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        clear(rel);
        const fd = openSync(p, 'wx', 0o600);
        try {
          for await (const chunk of stream) {
            const b = chunk as Buffer;
            let off = 0;
            while (off < b.length) off += writeSync(fd, b, off);
            res.bytes += b.length;
          }
          fchownSync(fd, uid, gid);
          fchmodSync(fd, (h.mode ?? 0o644) & 0o7777);
          futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        files.add(rel);
        xattrs(rel, h);
        return;
      }
      case 'symlink': {
        stream.resume();
        clear(rel);
        symlinkSync(h.linkname ?? '', p);
        lchownSync(p, uid, gid);
        lutimesSync(p, mtime, mtime);
        return;
      }
      case 'link': {
        stream.resume();
        const target = clean(h.linkname ?? '', 'hard link target');
        if (!files.has(target))
          throw new UnpackError(`hard link ${rel} points to ${JSON.stringify(h.linkname)}, which is not a regular file earlier in this layer`);
        if (target === rel) return;
        clear(rel);
        linkSync(abs(target), p);
        files.add(rel);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        stream.resume();
        clear(rel);
        fixups.push(
          [
            'D',
            hex(p),
            hex(String(IFMT[h.type] | ((h.mode ?? 0o644) & 0o7777))),
            hex(String(h.devmajor ?? 0)),
            hex(String(h.devminor ?? 0)),
            hex(String(uid)),
            hex(String(gid)),
          ].join(' '),
        );
        return;
      }
      default:
        // Global PAX headers, GNU long names and the like are handled by tar-stream; anything else is skipped.
        stream.resume();
        res.entries--;
    }
  };

  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      input.unpipe(ex);
      input.destroy();
      ex.destroy();
      reject(e);
    };
    ex.on('entry', (h, stream, next) => {
      entry(h, stream as unknown as Readable).then(
        () => next(),
        (e) => {
          stream.resume();
          fail(e);
        },
      );
    });
    ex.on('finish', () => !failed && resolve());
    ex.on('error', (e) => fail(new UnpackError(`the layer is not a valid tar archive: ${e.message}`)));
    input.on('error', fail);
    input.pipe(ex);
  });

  // Directory metadata last, deepest first, so writing into them was never refused and mtimes stick.
  for (const { rel, h } of dirMeta.reverse()) {
    const p = abs(rel);
    if (!dirs.has(rel)) continue;
    chownSync(p, h.uid ?? 0, h.gid ?? 0);
    chmodSync(p, (h.mode ?? 0o755) & 0o7777);
    const t = h.mtime ?? new Date(0);
    utimesSync(p, t, t);
  }
  if (fixups.length) await runFixups(fixups);
  return res;
}

async function runFixups(lines: string[]): Promise<void> {
  const nrs = SYSCALLS[process.arch];
  if (!nrs)
    throw new UnpackError(
      `whiteouts and xattrs: the system call numbers of architecture ${process.arch} are not known (supported: ${Object.keys(SYSCALLS).join(', ')})`,
    );
  await new Promise<void>((resolve, reject) => {
    const child = spawn('perl', ['-e', FIXUP_SCRIPT, String(nrs.mknodat), String(nrs.lsetxattr)], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new UnpackError(`perl (perl-base) for whiteouts: ${e.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new UnpackError(`making whiteouts and xattrs failed: ${err.trim() || `exit ${code}`}`))));
    child.stdin.on('error', () => {});
    child.stdin.end(`${lines.join('\n')}\n`);
  });
}
