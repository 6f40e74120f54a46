// The fail-closed guard: a second, tiny table that `nft flush ruleset` from outside cannot remove. It is
// created with the `owner` flag through a long-lived `nft -i` child, so the kernel ties it to that
// process's netlink socket: no other process may change or flush it, and it goes away when the child
// (and so the agent) exits. It drops new flows of isolated pods that the policy table did not judge
// (no JUDGED mark): while the policy table is missing, isolated pods are closed, not open; the rest of
// the node's traffic, and established flows, carry on. Its two sets are kept level-triggered: listed
// (any process may read an owned table) and corrected through the child.
import { spawnProcess, run, type Spawned } from '../../util/exec.js';
import { formatIPv4, parseIPv4 } from '../../util/cidr.js';
import { JUDGED_MARK } from './ruleset.js';

export const GUARD_TABLE = 'k8ts-policy-guard';

export interface GuardOptions {
  table?: string;
  /** Run in this network namespace (a path such as /run/netns/x); default: our own. */
  netns?: string;
  log?: (line: string) => void;
}

export class Guard {
  readonly table: string;
  private child?: Spawned;
  private stderr = '';
  private chain: Promise<void> = Promise.resolve();

  constructor(private o: GuardOptions = {}) {
    this.table = o.table ?? GUARD_TABLE;
  }

  private prefix(): string[] {
    return this.o.netns ? ['nsenter', `--net=${this.o.netns}`, '--'] : [];
  }

  get running(): boolean {
    return Boolean(this.child && this.child.child.exitCode === null && !this.child.child.killed);
  }

  /** Start the owning child (if it is not running) and make the table. */
  private ensure(): void {
    if (this.running) return;
    this.child = spawnProcess([...this.prefix(), 'nft', '-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child.child.stderr?.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    const T = this.table;
    // One line per command: nft -i runs each line as its own transaction.
    this.send([
      `add table ip ${T} { flags owner; }`,
      `add set ip ${T} ingress { type ipv4_addr; }`,
      `add set ip ${T} egress { type ipv4_addr; }`,
      `add chain ip ${T} prerouting { type filter hook prerouting priority dstnat + 20; policy accept; }`,
      `add rule ip ${T} prerouting meta mark & 0x${JUDGED_MARK.toString(16)} != 0 accept`,
      `add rule ip ${T} prerouting ct state established,related accept`,
      `add rule ip ${T} prerouting ip saddr @egress drop`,
      `add rule ip ${T} prerouting ip daddr @ingress drop`,
    ]);
  }

  private send(lines: string[]): void {
    this.child!.child.stdin!.write(`${lines.join('\n')}\n`);
  }

  /** Resolves once every sync asked for so far has run. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Make the guard's sets equal these addresses (local pods isolated for ingress / egress). */
  sync(ingress: number[], egress: number[]): Promise<void> {
    this.chain = this.chain.then(() => this.pass(ingress, egress)).catch((e: Error) => this.o.log?.(`policy guard: ${e.message}`));
    return this.chain;
  }

  /** Whether the last sync ended with the kernel holding the wanted sets. */
  ok = false;

  private async pass(ingress: number[], egress: number[]): Promise<void> {
    this.ok = false;
    this.ensure();
    // The child runs our lines when it gets to them: look again a few times before sending them again.
    for (let attempt = 0; attempt < 40; attempt++) {
      const have = await this.list();
      const lines: string[] = [];
      if (have) {
        for (const [name, want] of [['ingress', ingress], ['egress', egress]] as const) {
          const w = new Set(want);
          const h = have[name];
          const add = [...w].filter((x) => !h.has(x)).map(formatIPv4);
          const del = [...h].filter((x) => !w.has(x)).map(formatIPv4);
          if (add.length) lines.push(`add element ip ${this.table} ${name} { ${add.join(', ')} }`);
          if (del.length) lines.push(`delete element ip ${this.table} ${name} { ${del.join(', ')} }`);
        }
        if (!lines.length) {
          this.ok = true;
          return;
        }
        if (attempt % 8 === 0) this.send(lines);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`table ip ${this.table} did not take the wanted sets${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`);
  }

  /** The sets as the kernel holds them, or undefined while the table is not there yet. (Text, not -j: nft
   *  1.0.6 cuts its JSON short at an owned table's flags.) */
  async list(): Promise<{ ingress: Set<number>; egress: Set<number> } | undefined> {
    let out: string;
    try {
      out = (await run([...this.prefix(), 'nft', 'list', 'table', 'ip', this.table])).stdout;
    } catch {
      return undefined;
    }
    const res = { ingress: new Set<number>(), egress: new Set<number>() };
    let sets = 0;
    for (const name of ['ingress', 'egress'] as const) {
      const m = new RegExp(`set ${name} \\{\\s*type ipv4_addr(?:\\s*elements = \\{([^}]*)\\})?\\s*\\}`).exec(out);
      if (!m) continue;
      sets++;
      for (const e of (m[1] ?? '').split(',')) if (e.trim()) res[name].add(parseIPv4(e.trim()));
    }
    return sets === 2 ? res : undefined;
  }

  /** End the child: the kernel removes the table with it. */
  async stop(): Promise<void> {
    await this.chain;
    const c = this.child;
    this.child = undefined;
    if (!c) return;
    c.child.stdin?.end();
    const t = setTimeout(() => c.child.kill('SIGKILL'), 2000);
    await c.exited;
    clearTimeout(t);
  }
}
