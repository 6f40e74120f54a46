// The fail-closed guard: a second, tiny table that `nft flush ruleset` from outside cannot remove. It is
// created with the `owner` flag through a long-lived `nft -i` child (nftsession.ts), so the kernel ties it to that
// process's netlink socket: no other process may change or flush it, and it goes away when the child
// (and so the agent) exits. It drops new flows of isolated pods that the policy table did not judge
// (no JUDGED mark): while the policy table is missing, isolated pods are closed, not open; the rest of
// the node's traffic, and established flows, carry on. Its two sets are kept level-triggered: listed
// and corrected through the same child (no process spawn per sync).
import { formatIPv4, parseIPv4 } from '../../util/cidr.js';
import { NftCommandError, NftSession } from './nftsession.js';
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
  /** The owning child: the table lives as long as it does, and every change and listing goes through it. */
  private session: NftSession;
  private chain: Promise<void> = Promise.resolve();

  constructor(private o: GuardOptions = {}) {
    this.table = o.table ?? GUARD_TABLE;
    this.session = new NftSession({ netns: o.netns });
  }

  get running(): boolean {
    return this.session.running;
  }

  /** Make the table (in a new child, if the last one ended and took the table with it). */
  private async create(): Promise<void> {
    const T = this.table;
    for (const line of [
      `add table ip ${T} { flags owner; }`,
      `add set ip ${T} ingress { type ipv4_addr; }`,
      `add set ip ${T} egress { type ipv4_addr; }`,
      `add chain ip ${T} prerouting { type filter hook prerouting priority dstnat + 20; policy accept; }`,
      `flush chain ip ${T} prerouting`,
      `add rule ip ${T} prerouting meta mark & 0x${JUDGED_MARK.toString(16)} != 0 accept`,
      `add rule ip ${T} prerouting ct state established,related accept`,
      `add rule ip ${T} prerouting ip saddr @egress drop`,
      `add rule ip ${T} prerouting ip daddr @ingress drop`,
    ])
      await this.session.command(line);
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
    let have = await this.list();
    if (!have) {
      await this.create();
      have = await this.list();
      if (!have) throw new Error(`table ip ${this.table} was made but cannot be listed`);
    }
    for (const [name, want] of [
      ['ingress', ingress],
      ['egress', egress],
    ] as const) {
      const w = new Set(want);
      const h = have[name];
      const add = [...w].filter((x) => !h.has(x)).map(formatIPv4);
      const del = [...h].filter((x) => !w.has(x)).map(formatIPv4);
      // Each line is its own transaction: an address added is guarded at once, whatever comes after.
      for (let i = 0; i < add.length; i += 2000) await this.session.command(`add element ip ${this.table} ${name} { ${add.slice(i, i + 2000).join(', ')} }`);
      for (let i = 0; i < del.length; i += 2000) await this.session.command(`delete element ip ${this.table} ${name} { ${del.slice(i, i + 2000).join(', ')} }`);
    }
    this.ok = true;
  }

  /** The sets as the kernel holds them, or undefined while the table is not there yet. (Text, not -j: nft
   *  1.0.6 cuts its JSON short at an owned table's flags.) */
  async list(): Promise<{ ingress: Set<number>; egress: Set<number> } | undefined> {
    let out: string;
    try {
      out = await this.session.command(`list table ip ${this.table}`);
    } catch (e) {
      if (e instanceof NftCommandError) return undefined;
      throw e;
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
    await this.session.stop();
  }
}
