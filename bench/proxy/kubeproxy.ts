// The anchor of the proxy benchmarks: kube-proxy's nftables layout (a chain per service and per endpoint,
// the endpoint picked by an inline numgen verdict map per service, a service-ips verdict map), generated
// from its public description for N services × 2 endpoints, and the text of a one-endpoint change.
import { createHash } from 'node:crypto';

export const clusterIP = (i: number) => `10.96.${16 + (i >> 8)}.${i & 255}`;
export const epIPs = (i: number) => [`10.245.${i >> 6}.${((i & 63) << 1) + 1}`, `10.245.${i >> 6}.${((i & 63) << 1) + 2}`];

export const KP = 'kp-bench';
const h = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 8).toUpperCase();
const svcChain = (i: number) => `service-${h(`s${i}`)}-default/s${i}/tcp/`;
const epChain = (i: number, ip: string) => `endpoint-${h(`s${i}${ip}`)}-default/s${i}/tcp/__${ip}/8080`;

export function kpService(i: number, eps: string[], ip = clusterIP(i)): string[] {
  const sc = svcChain(i);
  const out = [`add chain ip ${KP} ${sc}`];
  out.push(`add rule ip ${KP} ${sc} ip daddr ${ip} tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade`);
  for (const e of eps) {
    const ec = epChain(i, e);
    out.push(
      `add chain ip ${KP} ${ec}`,
      `add rule ip ${KP} ${ec} ip saddr ${e} jump mark-for-masquerade`,
      `add rule ip ${KP} ${ec} meta l4proto tcp dnat to ${e}:8080`,
    );
  }
  out.push(`add rule ip ${KP} ${sc} numgen random mod ${eps.length} vmap { ${eps.map((e, j) => `${j} : goto ${epChain(i, e)}`).join(' , ')} }`);
  out.push(`add element ip ${KP} service-ips { ${ip} . tcp . 80 : goto ${sc} }`);
  return out;
}

export function kpRuleset(n: number): string {
  const out = [
    `table ip ${KP}`,
    `delete table ip ${KP}`,
    `table ip ${KP} {`,
    '  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }',
    '  chain mark-for-masquerade { meta mark set meta mark | 0x4000; }',
    '  chain masquerading { meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; masquerade fully-random; }',
    '  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }',
    '  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }',
    '  chain nat-output { type nat hook output priority -100; policy accept; jump services; }',
    '  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; jump masquerading; }',
    '}',
  ];
  for (let i = 0; i < n; i++) out.push(...kpService(i, epIPs(i)));
  return out.join('\n') + '\n';
}

/** The same one-endpoint change kube-proxy makes: new endpoint chain, service chain rewritten, old one gone. */
export function kpChange(i: number, oldEp: string, newEp: string, keep: string): string {
  const sc = svcChain(i);
  const nc = epChain(i, newEp);
  return (
    [
      `add chain ip ${KP} ${nc}`,
      `add rule ip ${KP} ${nc} ip saddr ${newEp} jump mark-for-masquerade`,
      `add rule ip ${KP} ${nc} meta l4proto tcp dnat to ${newEp}:8080`,
      `flush chain ip ${KP} ${sc}`,
      `add rule ip ${KP} ${sc} ip daddr ${clusterIP(i)} tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade`,
      `add rule ip ${KP} ${sc} numgen random mod 2 vmap { 0 : goto ${epChain(i, keep)} , 1 : goto ${nc} }`,
      `flush chain ip ${KP} ${epChain(i, oldEp)}`,
      `delete chain ip ${KP} ${epChain(i, oldEp)}`,
    ].join('\n') + '\n'
  );
}
