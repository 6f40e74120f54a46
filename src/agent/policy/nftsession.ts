// A long-lived `nft -i` child that carries the policy programmer's transactions and table probes, so a
// change costs a pipe write instead of a process spawn. Spawning from the agent is the expensive part of a
// small change: libuv forks the whole Node process (page tables of a large heap) on the event loop, tens
// of milliseconds per spawn on a loaded node, and every timer and informer event waits behind it.
//
// nft -i runs each input line as its own command, so a multi-line transaction is written to a private file
// and sent as one `include` line: the whole file is parsed into one batch, i.e. one atomic transaction,
// exactly as `nft -f` would. After each request a fixed `describe` line marks its end: nft prints its
// answer only after the previous command (and its kernel commit) is done, and stderr is joined to stdout
// (2>&1, line-buffered by stdbuf), so everything printed since the previous marker belongs to this request.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nftEnv, spawnProcess, type Spawned } from '../../util/exec.js';

/** What nft prints for the marker command (`describe ct mark`), one line. */
const MARKER_CMD = 'describe ct mark';
const MARKER_OUT = 'ct expression, datatype mark';
/** nft's error lines: `Error: …`, or `FILE:LINE:COLS: Error: …` for an included file. */
const NFT_ERROR = /(^|\n)(\S+ )?Error: /;

export class NftCommandError extends Error {
  readonly code = 'NftFailed';
  constructor(
    readonly what: string,
    readonly output: string,
  ) {
    super(
      `nft ${what}: ${
        output
          .trim()
          .split('\n')
          .filter((l) => NFT_ERROR.test(l))
          .slice(0, 4)
          .join(' ') || output.trim().slice(0, 400)
      }`,
    );
    this.name = 'NftCommandError';
  }
}

interface Pending {
  what: string;
  resolve: (out: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface NftSessionOptions {
  /** Run nft in this network namespace (a path such as /run/netns/x); default: our own. */
  netns?: string;
  /** A request not answered within this long ends the child (it is started again); default 30 s. */
  timeoutMs?: number;
}

export class NftSession {
  private child?: Spawned;
  private buf = '';
  private out: string[] = [];
  private pending: Pending[] = [];
  private seq = 0;
  /** The last transaction's directory (tests check it is gone; not private, since only tests read it). */
  lastTxDir?: string;
  readonly stats = { spawns: 0, requests: 0 };

  constructor(private o: NftSessionOptions = {}) {}

  /** CPU time (user + system, ms, at the kernel's 10 ms tick) the current child has used; 0 without one. */
  cpuMs(): number {
    const pid = this.child?.child.pid;
    if (!pid) return 0;
    try {
      // nsenter, stdbuf and sh each exec the next, so this pid is nft's. Fields after the command name: state is 3rd.
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      return 0;
    }
  }

  /** Whether the child is up (a table it owns lives as long as it does). */
  get running(): boolean {
    return Boolean(this.child && this.child.child.exitCode === null && !this.child.child.killed);
  }

  /** Run `text` (nft -f syntax) as one atomic transaction; rejects with nft's error if the kernel or nft refused it. */
  async transaction(text: string): Promise<void> {
    // A private directory per transaction, gone when nft has answered: nft reads the file when it reaches the
    // line (later than we may write the next), and a process killed between transactions leaves nothing in /tmp.
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-nft-'));
    this.lastTxDir = dir;
    const file = join(dir, `tx-${++this.seq}.nft`);
    writeFileSync(file, text, { mode: 0o600 });
    try {
      const out = await this.request('transaction', `include "${file}"`);
      if (NFT_ERROR.test(out)) throw new NftCommandError('transaction', out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** One command (list …); resolves with what nft printed, rejects if it printed an error. */
  async command(line: string): Promise<string> {
    if (/[\n"]/.test(line)) throw new Error(`nft command must be one line without quotes: ${JSON.stringify(line)}`);
    const out = await this.request(line, line);
    if (NFT_ERROR.test(out)) throw new NftCommandError(line, out);
    return out;
  }

  private request(what: string, line: string): Promise<string> {
    this.ensure();
    this.stats.requests++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`nft -i did not answer ${what} within ${this.o.timeoutMs ?? 30_000} ms`)), this.o.timeoutMs ?? 30_000);
      timer.unref();
      this.pending.push({ what, resolve, reject, timer });
      this.child!.child.stdin!.write(`${line}\n${MARKER_CMD}\n`);
    });
  }

  private ensure(): void {
    if (this.running) return;
    const pre = this.o.netns ? ['nsenter', `--net=${this.o.netns}`, '--'] : [];
    // Errors go to stdout so they arrive in order with the markers.
    const c = spawnProcess([...pre, 'stdbuf', '-oL', 'sh', '-c', 'exec nft -i 2>&1'], { stdio: ['pipe', 'pipe', 'ignore'], env: nftEnv() });
    this.stats.spawns++;
    this.child = c;
    this.buf = '';
    this.out = [];
    c.child.stdout!.setEncoding('utf8');
    c.child.stdout!.on('data', (s: string) => {
      if (this.child !== c) return;
      this.buf += s;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line.startsWith(MARKER_OUT)) {
          const p = this.pending.shift();
          const text = this.out.join('\n');
          this.out = [];
          if (p) {
            clearTimeout(p.timer);
            p.resolve(text);
          }
        } else this.out.push(line);
      }
    });
    c.exited.then(
      (x) => {
        if (this.child === c)
          this.fail(
            new Error(
              `nft -i ended (${x.code !== null ? `exit ${x.code}` : `signal ${x.signal}`})${this.out.length ? `: ${this.out.join(' ').slice(0, 300)}` : ''}`,
            ),
          );
      },
      (e: Error) => {
        if (this.child === c) this.fail(e);
      },
    );
  }

  /** Fail every request in flight and end the child (the next request starts a new one). */
  private fail(e: Error): void {
    const c = this.child;
    this.child = undefined;
    c?.child.kill('SIGKILL');
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }

  /** End the child. */
  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(new Error('nft session stopped'));
    }
    if (c) {
      c.child.stdin?.end();
      const t = setTimeout(() => c.child.kill('SIGKILL'), 2000);
      await c.exited.catch(() => undefined);
      clearTimeout(t);
    }
  }
}
