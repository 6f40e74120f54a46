// The NetworkPolicy benchmarks' world: 100 namespaces of 10 pods each (on nodes a and b alternately) and
// ten policies per namespace of the shapes people write.
import type { KObject, Namespace, Pod } from '../src/api/types.js';
import { formatIPv4, parseIPv4 } from '../src/util/cidr.js';

export const NAMESPACES = 100;
export const PER_NS = 10;

export function ns(i: number): Namespace {
  return { metadata: { name: `ns${i}`, labels: { team: `t${i % 5}` } } };
}

export function pod(name: string, namespace: string, ip: string, node: string, labels: Record<string, string>): Pod {
  return {
    metadata: { name, namespace, uid: `${namespace}-${name}`, labels },
    spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { phase: 'Running', podIP: ip },
  };
}

export function pods(): Pod[] {
  const out: Pod[] = [];
  for (let i = 0; i < NAMESPACES * PER_NS; i++) {
    const n = Math.floor(i / PER_NS);
    const k = i % PER_NS;
    out.push(
      pod(`p${k}`, `ns${n}`, formatIPv4(parseIPv4('10.244.4.2') + Math.floor(i / 200) * 256 + (i % 200)), i % 2 ? 'b' : 'a', {
        app: `app${k}`,
        role: k % 2 ? 'client' : 'server',
        tier: `t${i % 3}`,
      }),
    );
  }
  return out;
}

export function np(namespace: string, name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name, uid: `${namespace}-${name}` }, spec };
}

/** Ten policies per namespace, of the shapes people write. */
export function policies(): KObject[] {
  const out: KObject[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const N = `ns${n}`;
    out.push(np(N, 'default-deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    for (let k = 1; k <= 6; k++) {
      out.push(
        np(N, `allow-app${k}`, {
          podSelector: { matchLabels: { app: `app${k}` } },
          ingress: [
            { from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 80 + k }] },
            { from: [{ namespaceSelector: { matchLabels: { team: `t${(n + k) % 5}` } } }], ports: [{ port: 8000 }] },
          ],
        }),
      );
    }
    out.push(
      np(N, 'egress-app7', {
        podSelector: { matchLabels: { app: 'app7' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: [`10.${200 + (n % 50)}.0.0/16`] } }], ports: [{ protocol: 'UDP', port: 53 }, { port: 443 }] }],
      }),
    );
    out.push(
      np(N, 'tier1-http', {
        podSelector: { matchLabels: { app: 'app8' } },
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { tier: 't1' } } }], ports: [{ port: 'http' }] }],
      }),
    );
    out.push(
      np(N, 'range', {
        podSelector: { matchLabels: { app: 'app9' } },
        ingress: [
          {
            from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['t1', 't2'] }] } }],
            ports: [{ port: 30000, endPort: 31000 }],
          },
        ],
      }),
    );
  }
  return out;
}

/** The j-th change of the enforcement benchmark: a policy added (j % 3 = 0), changed (1) or deleted (2). */
export function change(j: number): { type: 'ADDED' | 'MODIFIED' | 'DELETED'; policy: KObject } {
  // Changes come in threes on one policy: added, then modified (another selector and port), then deleted, so
  // every change moves something (a MODIFIED or DELETED of a policy that was never added would be empty).
  const g = Math.floor(j / 3);
  const step = j % 3;
  const n = g % NAMESPACES;
  const spec =
    step === 0
      ? {
          podSelector: { matchLabels: { app: `app${g % 10}` } },
          ingress: [{ from: [{ podSelector: { matchLabels: { tier: `t${g % 3}` } } }], ports: [{ port: 9000 + g }] }],
        }
      : {
          podSelector: { matchLabels: { app: `app${(g + 1) % 10}` } },
          ingress: [{ from: [{ podSelector: { matchLabels: { tier: `t${(g + 1) % 3}` } } }], ports: [{ port: 9500 + g }] }],
        };
  const policy = np(`ns${n}`, `bench-${g}`, spec);
  return { type: step === 2 ? 'DELETED' : step === 1 ? 'MODIFIED' : 'ADDED', policy };
}
