// The runc command line as k8ts uses it: one state root per node, JSON logs from which runc's own errors
// are told apart from what the container printed.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run } from '../../util/exec.js';
import { readText } from './container.js';

export class Runc {
  constructor(
    readonly bin: string,
    readonly root: string,
  ) {}

  /** Global flags every invocation carries; logFile receives runc's own messages as JSON lines. */
  base(logFile?: string): string[] {
    return [this.bin, '--root', this.root, ...(logFile ? ['--log', logFile, '--log-format', 'json'] : [])];
  }

  /** Whether runc still keeps state for the container (it is gone after a successful `runc delete`). */
  async known(id: string): Promise<boolean> {
    return stat(join(this.root, id)).then(
      () => true,
      () => false,
    );
  }

  /** Deletes runc's state of a stopped container (force kills a running one; slower, avoid). Missing is fine. */
  async delete(id: string, force = false): Promise<void> {
    try {
      await run([...this.base(), 'delete', ...(force ? ['--force'] : []), id], { timeoutMs: 30_000 });
    } catch (e) {
      if (e instanceof CommandError && /does not exist|not exist/.test(e.stderr)) return;
      throw e;
    }
  }

  /** Container ids runc knows under this root. */
  async list(): Promise<{ id: string; pid: number; status: string }[]> {
    const { stdout } = await run([...this.base(), 'list', '--format', 'json']);
    const rows = JSON.parse(stdout.trim() || 'null') as { id: string; pid: number; status: string }[] | null;
    return rows ?? [];
  }
}

/** The last error runc wrote to a --log-format json log, without the "time=… level=…" wrapping. */
export async function runcError(logFile: string): Promise<string | undefined> {
  const text = await readText(logFile).catch(() => undefined);
  if (!text) return undefined;
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) last = entry.msg;
    } catch {
      // runc writes plain text if it fails before setting up its logger.
      last = line.trim();
    }
  }
  return last;
}
