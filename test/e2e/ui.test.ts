// `k8ts ui` in a real browser (Debian's headless chromium driven by playwright-core) against a real 2-node
// cluster: the seed's two pods with their IPs and the routes between the nodes as their kernels hold them,
// a pod appearing and going away without a reload, a trace animated hop by hop as `k8ts trace` prints it,
// the kernel facts behind a click, and no request leaving the machine. Screenshots go to
// test-artifacts/ui/ (gitignored).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { K8TS, ROOT } from './harness.js';
import { type Cluster, clusterFixture, podIP, skip as clusterSkip, sh, until } from './clusterkit.js';
import { type Browser, launch, noChromium, requireChromium, waitIn } from './browser.js';
import { must } from '../../src/testing/must.js';
import type { Node, NodeList } from 'kubernetes-types/core/v1.js';

requireChromium();
const skip = clusterSkip || noChromium;
const SHOTS = join(ROOT, 'test-artifacts/ui');

/** The parts of cytoscape's API these tests call inside the page (the page loads cytoscape; no types for it here). */
interface CyElement {
  data(key: string): string;
  classes?(): string[];
  boundingBox(o: { includeLabels: boolean }): { x1: number; x2: number; y1: number; y2: number };
  pstyle(name: string): { strValue: string };
  renderedPosition(): { x: number; y: number };
  empty(): boolean;
}
interface Cy {
  getElementById(id: string): CyElement;
  edges(selector: string): { length: number };
  elements(): { unselect(): void };
  zoom(z?: number): number;
  pan(): { x: number; y: number };
  viewport(v: { zoom: number; pan: { x: number; y: number } }): void;
  container(): HTMLElement;
}
/** A line of the page's own canvas layer (src/ui/page/lines.js), as far as these tests read it. */
interface PageLine {
  kind: string;
  source: string;
  target: string;
}
/** The page's window as src/ui/page/app.js sets it up for tests: its graph, its lines layer, each render's lag,
 *  each trace walked. */
declare const window: {
  k8tsUi: {
    ready?: boolean;
    cy: Cy;
    lines: { get(id: string): PageLine | undefined };
    renders: { key: string; ms: number }[];
    traces: { walked: unknown }[];
    loop: { quiet: boolean; stats: { held: number; woken: number } };
  };
};

describe('k8ts ui: the live topology page in headless chromium', { skip }, () => {
  let c: Cluster;
  let ui: ChildProcess | undefined;
  let url = '';
  let b: Browser | undefined;
  const ips = new Map<string, string>();

  // Registered before the cluster fixture's: the browser and the ui server go before the cluster does
  // (and before its check that nothing is left behind).
  after(async () => {
    await b?.close();
    if (ui?.pid && ui.exitCode === null) {
      ui.kill('SIGTERM');
      const t = setTimeout(() => ui!.kill('SIGKILL'), 10_000);
      await new Promise((r) => ui!.once('exit', r));
      clearTimeout(t);
    }
  });
  const get = clusterFixture(`ui${process.pid % 10000}`);

  before(async () => {
    c = get();
    mkdirSync(SHOTS, { recursive: true });
    await c.ok(['apply', '-f', join(ROOT, 'examples/two-pods.yaml')]);
    await c.ok(['wait', '--for=condition=Ready', 'pod/pod-a', 'pod/pod-b', '--timeout=120s']);
    for (const p of ['pod-a', 'pod-b']) ips.set(p, await podIP(c, p));
    // The real command, as a user starts it.
    ui = spawn(K8TS, ['ui', '--kubeconfig', c.kubeconfig, '--port', '0', '--no-open'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    ui.stderr!.on('data', (d: Buffer) => (err += d));
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`k8ts ui printed no URL: ${out}${err}`)), 30_000);
      ui!.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
      ui!.on('exit', (code) => reject(new Error(`k8ts ui exited ${code}: ${err}`)));
    });
    b = await launch();
    await b.page.goto(url);
    await waitIn(b.page, () => window.k8tsUi?.ready === true, null, 'the first drawing', 20_000);
  });

  const label = (id: string) => b!.page.evaluate((i) => window.k8tsUi.cy.getElementById(i).data('label') ?? null, id);
  const shot = (name: string) => b!.page.screenshot({ path: join(SHOTS, `${name}.png`) });

  test('the seed: two pods on two nodes with their IPs, each cbr0 with its gateway, the routes between the nodes from their kernels', async () => {
    const nodes = (JSON.parse(await c.ok(['get', 'nodes', '-o', 'json'])) as NodeList).items;
    // Routes come from the agents' facts, a moment after the snapshot.
    await waitIn(
      b!.page,
      () => window.k8tsUi.cy.edges('.route').length === 2 && window.k8tsUi.cy.edges('.route.guess').length === 0,
      null,
      'the routes from the kernels',
      15_000,
    );
    for (const [pod, node] of [
      ['pod-a', 'node1'],
      ['pod-b', 'node2'],
    ]) {
      const l = await label(`pod:default/${pod}`);
      assert.match(l, new RegExp(`\\n${ips.get(pod)!.replace(/\./g, '\\.')}\\nRunning`), `${pod}: ${l}`);
      // Drawn inside its node's box (the box is a plain node behind the grid, not a compound parent).
      const inside = await b!.page.evaluate(
        ([p, n]) => {
          const cy = window.k8tsUi.cy;
          const a = cy.getElementById(p).boundingBox({ includeLabels: false });
          const box = cy.getElementById(n).boundingBox({ includeLabels: false });
          return { node: cy.getElementById(p).data('node'), inside: a.x1 >= box.x1 && a.x2 <= box.x2 && a.y1 >= box.y1 && a.y2 <= box.y2 };
        },
        [`pod:default/${pod}`, `node:${node}`],
      );
      assert.deepEqual(inside, { node, inside: true }, `${pod} is drawn inside ${node}`);
      // Veth lines are drawn on the lines layer's canvas under cytoscape's (src/ui/page/lines.js).
      const veth = await b!.page.evaluate((id) => {
        const l = window.k8tsUi.lines.get(id);
        return l ? { kind: l.kind, source: l.source, target: l.target } : null;
      }, `veth:default/${pod}`);
      assert.deepEqual(veth, { kind: 'veth', source: `pod:default/${pod}`, target: `cbr0:${node}` }, `${pod} has its veth to cbr0`);
    }
    for (const n of nodes) {
      const gw = sh([
        'ip',
        '-n',
        must(
          c.plan.nodes.find((x) => x.name === n.metadata!.name),
          n.metadata!.name!,
        ).netns,
        '-j',
        'addr',
        'show',
        'dev',
        'cbr0',
      ]);
      const addr = (JSON.parse(gw.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[])[0].addr_info.find(
        (a) => a.family === 'inet',
      );
      assert.equal(await label(`cbr0:${n.metadata!.name}`), `cbr0  ${addr!.local}/${addr!.prefixlen}`);
    }
    const [n1, n2] = ['node1', 'node2'].map((name) => nodes.find((n) => n.metadata!.name === name)!);
    const ip = (n: Node) => n.status!.addresses!.find((a) => a.type === 'InternalIP')!.address;
    assert.match(await label('route:node1>node2'), new RegExp(`^${n2.spec!.podCIDR} via ${ip(n2)} dev `));
    assert.match(await label('route:node2>node1'), new RegExp(`^${n1.spec!.podCIDR} via ${ip(n1)} dev `));
    await shot('seed');
  });

  test('labels are in the picture from the zoom at which they can be read, and back when zoomed in again', async () => {
    const at = (zoom: number) =>
      b!.page.evaluate((z) => {
        const cy = window.k8tsUi.cy;
        cy.zoom(z);
        const text = (id: string) => cy.getElementById(id).pstyle('label').strValue;
        return { pod: text('pod:default/pod-a'), node: text('node:node1'), bridge: text('cbr0:node1'), zoom: cy.zoom() };
      }, zoom);
    const saved = await b!.page.evaluate(() => ({ zoom: window.k8tsUi.cy.zoom(), pan: { ...window.k8tsUi.cy.pan() } }));
    try {
      const far = await at(0.2);
      assert.deepEqual({ pod: far.pod, node: far.node, bridge: far.bridge }, { pod: '', node: '', bridge: '' }, `at zoom ${far.zoom}`);
      const near = await at(1);
      assert.ok(near.pod.includes(ips.get('pod-a')!), `pod-a's label at zoom 1: ${JSON.stringify(near.pod)}`);
      assert.match(near.node, /^node1 /);
      assert.match(near.bridge, /^cbr0 /);
    } finally {
      // Braces: cy.viewport() returns the core, which playwright would serialize back whole.
      await b!.page.evaluate((v) => {
        window.k8tsUi.cy.viewport(v);
      }, saved);
    }
  });

  test("a click shows the kernel facts: the pod's eth0 and the host end of its veth pair, as the node holds them", async () => {
    // The policy engine writes its peer classes only while a pod of the node is isolated: a policy that
    // isolates pod-a and lets everything in.
    const open = `${JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'pod-a-open' },
      spec: { podSelector: { matchLabels: { app: 'walkthrough' } }, ingress: [{}] },
    })}\n`;
    await c.ok(['apply', '-f', '-'], open);
    try {
      const node1 = must(
        c.plan.nodes.find((x) => x.name === 'node1'),
        'node1',
      ).netns;
      await until(
        "pod-a's class in node1's policy table",
        async () => sh(['ip', 'netns', 'exec', node1, 'nft', 'list', 'map', 'ip', 'k8ts-policy', 'podclass']).stdout.includes(ips.get('pod-a')!),
        15_000,
      );
      await kernelFacts();
    } finally {
      await c.ok(['delete', 'networkpolicy', 'pod-a-open', '--ignore-not-found']);
    }
  });

  const kernelFacts = async () => {
    const pos = await b!.page.evaluate(() => {
      const cy = window.k8tsUi.cy;
      const p = cy.getElementById('pod:default/pod-a').renderedPosition();
      const r = cy.container().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    });
    await b!.page.mouse.click(pos.x, pos.y);
    await waitIn(b!.page, () => /host side/.test(document.getElementById('details')!.textContent ?? ''), null, "the pod's kernel facts", 15_000);
    const text = await b!.page.textContent('#details');
    const netns = must(
      c.plan.nodes.find((x) => x.name === 'node1'),
      'node1',
    ).netns;
    const veths = JSON.parse(sh(['ip', '-n', netns, '-j', 'link', 'show', 'master', 'cbr0']).stdout) as { ifname: string; address: string }[];
    assert.ok(
      veths.some((v) => text!.includes(`${v.ifname} (ifindex`) && text!.includes(v.address)),
      `a veth on node1's cbr0 in: ${text}`,
    );
    assert.match(text!, new RegExp(`eth0 ([0-9a-f]{2}:){5}[0-9a-f]{2} mtu \\d+ ${ips.get('pod-a')!.replace(/\./g, '\\.')}/`));
    assert.match(text!, /k8ts-policy map podclass: /, "the policy engine's map entry for the pod");
    await shot('pod-details');
  };

  test("a click on a veth line (drawn under cytoscape, found by the page's own geometry) shows that pod's veth pair", async () => {
    await b!.page.evaluate(() => void window.k8tsUi.cy.elements().unselect());
    const pos = await b!.page.evaluate(() => {
      const cy = window.k8tsUi.cy;
      const a = cy.getElementById('pod:default/pod-a').renderedPosition();
      const z = cy.getElementById('cbr0:node1').renderedPosition();
      const r = cy.container().getBoundingClientRect();
      return { x: r.left + (a.x + z.x) / 2, y: r.top + (a.y + z.y) / 2 };
    });
    await b!.page.mouse.click(pos.x, pos.y);
    await waitIn(b!.page, () => /host side/.test(document.getElementById('details')!.textContent ?? ''), null, "the veth pair's facts", 15_000);
    assert.match((await b!.page.textContent('#details h2')) ?? '', /^veth pair of pod default\/pod-a$/);
    // Off the line, in node1's box's top left corner: the box answers instead.
    const corner = await b!.page.evaluate(() => {
      const cy = window.k8tsUi.cy;
      const box = cy.getElementById('node:node1').boundingBox({ includeLabels: false });
      const r = cy.container().getBoundingClientRect();
      return { x: r.left + (box.x1 + 12) * cy.zoom() + cy.pan().x, y: r.top + (box.y1 + 12) * cy.zoom() + cy.pan().y };
    });
    await b!.page.mouse.click(corner.x, corner.y);
    await waitIn(b!.page, () => /^Node node1$/.test(document.querySelector('#details h2')?.textContent ?? ''), null, "node1's details", 15_000);
    await shot('veth-details');
  });

  test("an idle page asks for no frames: cytoscape's render loop is held until a change asks for one", async () => {
    await waitIn(b!.page, () => window.k8tsUi.loop.quiet, null, 'the render loop held', 10_000);
    // Held for a second: no callback of the loop ran in between (it would have been held again).
    const held = await b!.page.evaluate(() => window.k8tsUi.loop.stats.held);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await b!.page.evaluate(() => window.k8tsUi.loop.stats.held), held, 'the loop ran while nothing was to be drawn');
    // A change of the viewport wakes it, and the frame that shows the change is drawn.
    const drawn = await b!.page.evaluate(
      () =>
        new Promise<boolean>((resolve) => {
          const cy = window.k8tsUi.cy as unknown as { one(e: string, f: () => void): void; panBy(p: { x: number; y: number }): void };
          const t = setTimeout(() => resolve(false), 3000);
          cy.one('render', () => {
            clearTimeout(t);
            resolve(true);
          });
          cy.panBy({ x: 5, y: 0 });
        }),
    );
    assert.ok(drawn, 'no frame drawn after the pan');
    assert.ok((await b!.page.evaluate(() => window.k8tsUi.loop.stats.woken)) > 0);
    await waitIn(b!.page, () => window.k8tsUi.loop.quiet, null, 'the render loop held again', 10_000);
  });

  test('a new pod appears without a reload once Running, and goes when deleted', async () => {
    const before = await b!.page.evaluate(() => window.k8tsUi.renders.length);
    await c.ok([
      'run',
      'pod-c',
      '--image=busybox',
      '--restart=Never',
      '--overrides',
      JSON.stringify({ spec: { nodeSelector: { 'kubernetes.io/hostname': 'node1' } } }),
      '--',
      'sleep',
      'infinity',
    ]);
    await c.ok(['wait', '--for=jsonpath={.status.phase}=Running', 'pod/pod-c', '--timeout=120s']);
    const ip = await podIP(c, 'pod-c');
    // The page must show it within 1 s of the watch event that said Running reached the ui server.
    await waitIn(
      b!.page,
      (want) => (window.k8tsUi.cy.getElementById('pod:default/pod-c').data('label') ?? '').includes(want),
      `${ip}\nRunning`,
      'pod-c Running',
      5000,
    );
    const renders = await b!.page.evaluate((n) => window.k8tsUi.renders.slice(n).filter((r) => r.key === 'default/pod-c'), before);
    const last = renders[renders.length - 1];
    assert.ok(last && last.ms <= 1000, `rendered ${last?.ms} ms after the watch event (${JSON.stringify(renders)})`);
    assert.equal(await b!.page.evaluate(() => performance.getEntriesByType('navigation').length), 1, 'no reload');
    await shot('pod-c-running');
    await c.ok(['delete', 'pod', 'pod-c', '--wait=true', '--timeout=60s']);
    await waitIn(b!.page, () => window.k8tsUi.cy.getElementById('pod:default/pod-c').empty(), null, 'pod-c gone', 5000);
    await shot('pod-c-deleted');
  });

  test('selecting two pods and pressing Trace animates the hops `k8ts trace` prints, node by node', async () => {
    const cli = sh([K8TS, 'trace', '--kubeconfig', c.kubeconfig, 'default/pod-a', 'default/pod-b', '--protocol', 'icmp', '--json']);
    assert.equal(cli.code, 0, cli.stderr + cli.stdout);
    const want = (JSON.parse(cli.stdout).nodes as { node: string; hops: { kind: string }[] }[]).flatMap((n) => n.hops.map((h) => `${n.node} ${h.kind}`));
    assert.ok(want.length >= 6, `k8ts trace printed ${want.join(', ')}`);
    await b!.page.evaluate(() => void window.k8tsUi.cy.elements().unselect());
    for (const [i, pod] of ['pod-a', 'pod-b'].entries()) {
      const pos = await b!.page.evaluate((id) => {
        const cy = window.k8tsUi.cy;
        const p = cy.getElementById(id).renderedPosition();
        const r = cy.container().getBoundingClientRect();
        return { x: r.left + p.x, y: r.top + p.y };
      }, `pod:default/${pod}`);
      if (i) await b!.page.keyboard.down('Shift');
      await b!.page.mouse.click(pos.x, pos.y);
      if (i) await b!.page.keyboard.up('Shift');
    }
    await b!.page.waitForSelector('#tracebar.on', { timeout: 10_000 });
    assert.equal(await b!.page.textContent('#tracewhat'), 'default/pod-a → default/pod-b');
    await b!.page.selectOption('#proto', 'icmp');
    await b!.page.fill('#port', '');
    await b!.page.click('#trace-run');
    // Mid-animation: some hops are lit, not yet all.
    await waitIn(b!.page, () => document.querySelectorAll('#trace li[data-kind]').length >= 2, null, 'the first hops', 30_000);
    await shot('trace-midway');
    await waitIn(b!.page, () => window.k8tsUi.traces.length === 1, null, 'the whole trace', 30_000);
    const walked = await b!.page.evaluate(() => window.k8tsUi.traces[0].walked as { node: string; kind: string; element: string; drawn: boolean }[]);
    assert.deepEqual(
      walked.map((h) => `${h.node} ${h.kind}`),
      want,
    );
    const missing = walked.filter((h) => !h.drawn);
    assert.deepEqual(missing, [], 'every hop lights a drawn element');
    assert.ok(
      walked.some((h) => h.element === 'route:node1>node2'),
      'the route from node1 to node2 is on the path',
    );
    assert.ok(
      walked.some((h) => h.element === 'pod:default/pod-b'),
      'pod-b is on the path',
    );
    assert.match((await b!.page.textContent('#trace li.summary')) ?? '', /ARRIVED/);
    await shot('trace-done');
  });

  test("every page shares the ui server's one set of watches: more pages open no watch on the API server", async () => {
    // The API server's own count of watchers per kind. Other components' watches come and go (a watch that
    // times out is opened again), so the count is read until two reads agree.
    const watchers = async (): Promise<Map<string, number>> => {
      let last = '';
      for (let i = 0; i < 20; i++) {
        const text = await c.ok(['get', '--raw', '/metrics']);
        const lines = text.split('\n').filter((l) => l.startsWith('apiserver_registered_watchers{'));
        const now = lines.sort().join('\n');
        if (now === last) return new Map(lines.map((l) => [/kind="([^"]*)"/.exec(l)![1], Number(l.split(' ').pop())]));
        last = now;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`the watcher counts did not settle: ${last}`);
    };
    const before = await watchers();
    assert.ok((before.get('Pod') ?? 0) >= 1, `a Pod watcher at least (the ui server's): ${JSON.stringify([...before])}`);
    // A second page in the browser, and three more streams read by hand.
    const page2 = await b!.context.newPage();
    const streams = [1, 2, 3].map(() => new AbortController());
    try {
      await page2.goto(url);
      await waitIn(page2, () => window.k8tsUi?.ready === true, null, 'the second page drawn', 20_000);
      const firsts = await Promise.all(
        streams.map(async (ac) => {
          const r = await fetch(`${url}events`, { signal: ac.signal });
          assert.equal(r.status, 200);
          const reader = r.body!.getReader();
          let text = '';
          while (!text.includes('\n\n')) text += Buffer.from((await reader.read()).value ?? []).toString();
          return JSON.parse(text.slice(text.indexOf('data: ') + 6, text.indexOf('\n\n')));
        }),
      );
      for (const f of firsts) {
        assert.equal(f.op, 'snapshot');
        assert.ok(
          f.objects.some((o: { kind: string; name: string }) => o.kind === 'Pod' && o.name === 'pod-a'),
          'the snapshot holds pod-a',
        );
      }
      const after = await watchers();
      for (const kind of ['Pod', 'Node', 'Service', 'EndpointSlice', 'NetworkPolicy', 'Namespace'])
        assert.equal(after.get(kind) ?? 0, before.get(kind) ?? 0, `${kind} watchers with 5 pages open: ${JSON.stringify([...after])}`);
    } finally {
      for (const ac of streams) ac.abort();
      await page2.close();
    }
  });

  test('the server is read-only and serves only its own origin', async () => {
    const post = await fetch(url, { method: 'POST' });
    assert.equal(post.status, 405);
    const rebound = sh(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: attacker.example:80', url]);
    assert.equal(rebound.stdout, '403');
    const bad = await fetch(`${url}api/facts?node=node1&pod=${encodeURIComponent('../../etc')}`);
    assert.equal(bad.status, 400);
    const badTrace = await fetch(`${url}api/trace?src=default/pod-a&dst=${encodeURIComponent('1.2.3.4;rm')}`);
    assert.equal(badTrace.status, 400);
    const agentBad = await c.k(['get', '--raw', '/api/v1/nodes/node1/proxy/k8ts/facts?pod=x/..%2f..%2fetc']);
    assert.notEqual(agentBad.code, 0);
    assert.match(agentBad.stderr, /pod: namespace\/name|BadRequest/);
  });

  test('no request left the machine: every URL the page asked for is on 127.0.0.1', () => {
    assert.ok(b!.requests.length >= 3, `requests: ${b!.requests.join(', ')}`);
    assert.deepEqual(b!.outside, []);
    for (const u of b!.requests) assert.equal(new URL(u).hostname, '127.0.0.1', u);
    assert.ok(readFileSync(join(ROOT, 'dist/ui/app.js'), 'utf8').length > 100_000, 'cytoscape is in the bundle, not fetched');
  });
});
