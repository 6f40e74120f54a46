// Test fixtures for the policy engine: random but reproducible worlds of namespaces, pods and policies.
import { parseNamespace, parsePod, parsePolicy, type Namespace, type Pod, type Policy } from './model.js';
import type { World } from './verdict.js';

export const NODE = 'n1';

export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

export function world(policies: Policy[], nss: Namespace[], pods: Pod[]): World {
  const byIp = new Map(pods.filter((p) => p.ip !== undefined).map((p) => [p.ip!, p]));
  return { policies, namespace: (n) => nss.find((x) => x.name === n), podAt: (ip) => byIp.get(ip) };
}

export function randomCase(seed: number) {
  const r = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const nsNames = ['a', 'b', 'c'];
  const nss = nsNames.map((n, i) => parseNamespace({ metadata: { name: n, labels: { team: i % 2 ? 'red' : 'blue', ...(i === 2 ? { env: 'prod' } : {}) } } })!);
  const apps = ['web', 'db', 'cli'];
  const pods: Pod[] = [];
  for (let i = 0; i < 12; i++) {
    const ns = pick(nsNames);
    const ports = r() < 0.5 ? [{ name: 'http', containerPort: pick([80, 8080]) }] : [];
    pods.push(
      parsePod({
        metadata: { name: `p${i}`, namespace: ns, uid: `u${i}`, labels: { app: pick(apps), ...(r() < 0.3 ? { tier: 'x' } : {}) } },
        spec: { nodeName: r() < 0.6 ? NODE : 'n2', containers: [{ name: 'c', ports }] },
        status: { podIP: `10.244.${i % 3}.${10 + i}` },
      })!,
    );
  }
  const peer = () =>
    pick([
      () => ({ podSelector: { matchLabels: { app: pick(apps) } } }),
      () => ({ namespaceSelector: { matchLabels: { team: pick(['red', 'blue']) } } }),
      () => ({ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'app', operator: pick(['In', 'NotIn']), values: [pick(apps)] }] } }),
      () => ({ podSelector: { matchExpressions: [{ key: 'tier', operator: pick(['Exists', 'DoesNotExist']) }] } }),
      () => ({
        ipBlock: { cidr: pick(['10.244.0.0/16', '10.244.1.0/24', '0.0.0.0/0']), except: r() < 0.5 ? [pick(['10.244.1.0/25', '10.244.0.16/28'])] : [] },
      }),
    ])();
  const port = () =>
    pick([
      () => ({ port: pick([80, 8080, 53]), protocol: pick(['TCP', 'UDP']) }),
      () => ({ port: 'http' }),
      () => ({ port: 1000, endPort: 9000 }),
      () => ({ protocol: 'UDP' }),
    ])();
  const rule = (k: 'from' | 'to') => ({
    ...(r() < 0.8 ? { [k]: Array.from({ length: 1 + Math.floor(r() * 2) }, peer) } : {}),
    ...(r() < 0.7 ? { ports: Array.from({ length: 1 + Math.floor(r() * 2) }, port) } : {}),
  });
  const policies: Policy[] = [];
  for (let i = 0; i < 5; i++) {
    const types = pick([['Ingress'], ['Egress'], ['Ingress', 'Egress'], undefined]);
    policies.push(
      parsePolicy({
        metadata: { name: `np${i}`, namespace: pick(nsNames) },
        spec: {
          podSelector: r() < 0.4 ? {} : { matchLabels: { app: pick(apps) } },
          ...(types ? { policyTypes: types } : {}),
          ingress: Array.from({ length: Math.floor(r() * 3) }, () => rule('from')),
          egress: Array.from({ length: Math.floor(r() * 3) }, () => rule('to')),
        },
      }).policy!,
    );
  }
  return { nss, pods, policies };
}
