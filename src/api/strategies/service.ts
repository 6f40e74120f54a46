// Services: defaults, port/clusterIP/type validation, update rules for allocated values, table, selectors.
import type { FieldError, Incomplete, Service, ServicePort, ServiceSpec } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  duplicate,
  each,
  forbidden,
  goIntOrString,
  goQuote,
  goStringSlice,
  GoValue,
  invalid,
  isDNS1123Subdomain,
  isValidPortNum,
  notSupported,
  required,
  validateCIDR,
  validateDNS1123Label,
  validateIP,
  validateLabels,
  validateNonSpecialIP,
  validatePortNumOrName,
  validateProtocol,
  validateQualifiedName,
} from '../validation.js';
import { isIPv6String, parseIP, isV4 } from '../ipaddr.js';
import { formatLabels } from '../labels.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { arr, isObj, fieldsOf } from '../narrow.js';

const TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const MAX_AFFINITY_SECONDS = 86400;
const DEFAULT_AFFINITY_SECONDS = 10800;

/** A spec as validation reads it (every field possibly missing) or as defaults fill it in. */
type Spec = Partial<ServiceSpec> | Incomplete<ServiceSpec>;

const isHeadless = (spec: Spec) => arr(spec.clusterIPs).length === 1 && arr(spec.clusterIPs)[0] === 'None';
const needsClusterIP = (spec: Spec) => spec.type !== 'ExternalName';
const needsNodePort = (spec: Spec) => spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
const needsHealthCheck = (spec: Spec) => spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';

/** Reachable from outside the cluster: NodePort, LoadBalancer, or ClusterIP with external IPs. */
export function externallyAccessible(spec: Spec): boolean {
  return spec?.type === 'LoadBalancer' || spec?.type === 'NodePort' || (spec?.type === 'ClusterIP' && arr(spec?.externalIPs).length > 0);
}

function familyOf(ip: string): 'IPv4' | 'IPv6' | undefined {
  const p = parseIP(ip);
  return p ? (isV4(p) ? 'IPv4' : 'IPv6') : undefined;
}

function defaults(obj: Incomplete<Service>): void {
  if (!isObj(obj.spec)) obj.spec = {};
  const spec = obj.spec;
  spec.sessionAffinity ||= 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP' && typeof spec.sessionAffinityConfig?.clientIP?.timeoutSeconds !== 'number') {
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DEFAULT_AFFINITY_SECONDS } };
  }
  spec.type ||= 'ClusterIP';
  for (const p of arr(spec.ports)) {
    if (!isObj(p)) continue;
    p.protocol ||= 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (externallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (!spec.internalTrafficPolicy && ['NodePort', 'LoadBalancer', 'ClusterIP'].includes(spec.type)) spec.internalTrafficPolicy = 'Cluster';
  if (spec.type === 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null) spec.allocateLoadBalancerNodePorts = true;
    for (const ing of arr(obj.status?.loadBalancer?.ingress)) if (isObj(ing) && ing.ip && !ing.ipMode) ing.ipMode = 'VIP';
  }
  // The singular field seeds the plural one (old clients set only clusterIP).
  if (spec.clusterIP && arr(spec.clusterIPs).length === 0) spec.clusterIPs = [spec.clusterIP];
  // IP families as the allocator records them on a single-stack cluster.
  if (needsClusterIP(spec)) {
    if (!spec.ipFamilyPolicy) spec.ipFamilyPolicy = isHeadless(spec) && !Object.keys(spec.selector ?? {}).length ? 'RequireDualStack' : 'SingleStack';
    if (arr(spec.ipFamilies).length === 0) {
      const fams = arr(spec.clusterIPs)
        .map((ip) => familyOf(String(ip)))
        .filter((f): f is 'IPv4' | 'IPv6' => !!f);
      spec.ipFamilies = fams.length ? fams : ['IPv4'];
    }
  }
}

const sameList = (a: unknown, b: unknown) => JSON.stringify(arr(a)) === JSON.stringify(arr(b));

/** Update-time work that needs the stored object: keep allocated values a client left out, keep
 *  clusterIP/clusterIPs in step, and drop fields the new type no longer uses. */
function prepareForUpdate(obj: Incomplete<Service>, old: Service): void {
  if (!isObj(obj.spec)) obj.spec = {};
  const n = obj.spec;
  const o = fieldsOf(old.spec);
  // patchAllocatedValues
  if (needsClusterIP(o) && needsClusterIP(n)) {
    if (!n.clusterIP && o.clusterIP) n.clusterIP = o.clusterIP;
    if (arr(n.clusterIPs).length === 0 && arr(o.clusterIPs).length > 0) n.clusterIPs = [...arr(o.clusterIPs)];
    if (arr(n.ipFamilies).length === 0 && arr(o.ipFamilies).length > 0) n.ipFamilies = [...arr(o.ipFamilies)];
    if (!n.ipFamilyPolicy && o.ipFamilyPolicy) n.ipFamilyPolicy = o.ipFamilyPolicy;
  }
  if (needsNodePort(o) && needsNodePort(n)) {
    const used = new Set(
      arr(o.ports)
        .map((p) => p?.nodePort)
        .filter((x) => x),
    );
    const stillUsed = new Set(
      arr(n.ports)
        .map((p) => p?.nodePort)
        .filter((x) => used.has(x)),
    );
    const byName = new Map(arr(o.ports).map((p) => [p?.name ?? '', p?.nodePort]));
    for (const p of arr(n.ports)) {
      if (isObj(p) && !p.nodePort) {
        const v = byName.get(p.name ?? '');
        if (v && !stillUsed.has(v)) p.nodePort = v;
      }
    }
  }
  if (needsHealthCheck(o) && needsHealthCheck(n) && !n.healthCheckNodePort) n.healthCheckNodePort = o.healthCheckNodePort;
  // normalizeClusterIPs (update)
  if (arr(o.clusterIPs).length > 0 && arr(n.clusterIPs).length === 0 && (o.clusterIP ?? '') === (n.clusterIP ?? '')) n.clusterIPs = [...arr(o.clusterIPs)];
  if ((o.clusterIP ?? '') !== (n.clusterIP ?? '') && sameList(o.clusterIPs, n.clusterIPs)) {
    if (o.clusterIP && !n.clusterIP) delete n.clusterIPs;
    else n.clusterIPs = [n.clusterIP ?? ''];
  }
  // dropTypeDependentFields
  if (needsClusterIP(o) && !needsClusterIP(n)) {
    if (sameList(o.clusterIPs, n.clusterIPs) && (o.clusterIP ?? '') === (n.clusterIP ?? '')) {
      delete n.clusterIP;
      delete n.clusterIPs;
    }
    if (sameList(o.ipFamilies, n.ipFamilies)) delete n.ipFamilies;
    if ((o.ipFamilyPolicy ?? '') === (n.ipFamilyPolicy ?? '')) delete n.ipFamilyPolicy;
  }
  if (needsNodePort(o) && !needsNodePort(n)) {
    const same =
      arr(o.ports)
        .map((p) => p?.nodePort ?? 0)
        .join() ===
      arr(n.ports)
        .map((p) => p?.nodePort ?? 0)
        .join();
    if (same) for (const p of arr(n.ports)) if (isObj(p)) delete p.nodePort;
  }
  if (needsHealthCheck(o) && !needsHealthCheck(n) && o.healthCheckNodePort === n.healthCheckNodePort) delete n.healthCheckNodePort;
  if (o.type === 'LoadBalancer' && n.type !== 'LoadBalancer') {
    if (o.allocateLoadBalancerNodePorts === n.allocateLoadBalancerNodePorts) delete n.allocateLoadBalancerNodePorts;
    if ((o.loadBalancerClass ?? null) === (n.loadBalancerClass ?? null)) delete n.loadBalancerClass;
  }
  if (externallyAccessible(o) && !externallyAccessible(n) && (o.externalTrafficPolicy ?? '') === (n.externalTrafficPolicy ?? '')) {
    delete n.externalTrafficPolicy;
  }
  if (n.type !== 'LoadBalancer' && isObj(obj.status)) obj.status.loadBalancer = {};
}

function goServicePortKey(protocol: unknown, port: unknown): GoValue {
  return new GoValue(
    `core.ServicePort{Name:"", Protocol:${goQuote(String(protocol ?? ''))}, AppProtocol:(*string)(nil), ` +
      `Port:${typeof port === 'number' ? port : 0}, TargetPort:${goIntOrString(0)}, NodePort:0}`,
  );
}

function validateClusterIPs(spec: Partial<ServiceSpec>): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const ips: string[] = arr(spec.clusterIPs).map(String);
  if (spec.clusterIP) {
    if (ips.length === 0) errs.push(required('spec.clusterIPs'));
    else if (ips[0] !== spec.clusterIP) errs.push(invalid('spec.clusterIPs', goStringSlice(ips), 'first value must match `clusterIP`'));
  } else if (ips.length) {
    errs.push(invalid('spec.clusterIPs', goStringSlice(ips), 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  arr(spec.ipFamilies).forEach((f, i) => {
    if (f !== 'IPv4' && f !== 'IPv6') errs.push(notSupported(`spec.ipFamilies[${i}]`, f, ['IPv4', 'IPv6']));
    if (seen.has(f)) errs.push(duplicate(`spec.ipFamilies[${i}]`, f));
    seen.add(f);
  });
  if (
    spec.ipFamilyPolicy !== undefined &&
    spec.ipFamilyPolicy !== null &&
    !['PreferDualStack', 'RequireDualStack', 'SingleStack'].includes(spec.ipFamilyPolicy)
  ) {
    errs.push(notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, ['PreferDualStack', 'RequireDualStack', 'SingleStack']));
  }
  let bad = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        bad = true;
        errs.push(invalid('spec.clusterIPs', goStringSlice(ips), "'None' must be the first and only value"));
      }
      return;
    }
    const e = validateIP(`spec.clusterIPs[${i}]`, ip);
    if (e.length) bad = true;
    errs.push(...e);
  });
  if (ips.length > 2) errs.push(invalid('spec.clusterIPs', goStringSlice(ips), 'may only hold up to 2 values'));
  if (bad) return errs;
  if (ips.length > 1 && familyOf(ips[0]) === familyOf(ips[1])) {
    errs.push(invalid('spec.clusterIPs', goStringSlice(ips), 'may specify no more than one IP for each IP family'));
  }
  if (!isHeadless(spec)) {
    const fams = arr(spec.ipFamilies);
    ips.forEach((ip, i) => {
      if (i > fams.length - 1) return;
      if (fams[i] === 'IPv4' && isIPv6String(ip))
        errs.push(invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (fams[i] === 'IPv6' && !isIPv6String(ip))
        errs.push(invalid(`spec.clusterIPs[${i}]`, ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

function validate(obj: Service): FieldError[] {
  const spec = fieldsOf(obj.spec);
  const errs: FieldError[] = [];
  const ports = arr(spec.ports);
  const headless = isHeadless(spec);
  if (ports.length === 0 && !headless && spec.type !== 'ExternalName') errs.push(required('spec.ports'));
  switch (spec.type) {
    case 'LoadBalancer':
    case 'NodePort':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', `may not be set to 'None' for ${spec.type} services`));
      break;
    case 'ExternalName': {
      if (arr(spec.clusterIPs).length > 0) errs.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
      if (arr(spec.ipFamilies).length > 0) errs.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
      if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null)
        errs.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
      const cname = String(spec.externalName ?? '').replace(/\.$/, '');
      if (cname) errs.push(...each('spec.externalName', cname, isDNS1123Subdomain(cname)));
      else errs.push(required('spec.externalName'));
      break;
    }
  }
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const pp = `spec.ports[${i}]`;
    if (ports.length > 1 && !p?.name) errs.push(required(`${pp}.name`));
    else if (p?.name) {
      errs.push(...validateDNS1123Label(`${pp}.name`, String(p.name)));
      if (names.has(p.name)) errs.push(duplicate(`${pp}.name`, p.name));
      else names.add(p.name);
    }
    errs.push(...each(`${pp}.port`, p?.port ?? 0, isValidPortNum(Number(p?.port ?? 0))));
    errs.push(...validateProtocol(`${pp}.protocol`, p?.protocol));
    errs.push(...validatePortNumOrName(`${pp}.targetPort`, p?.targetPort));
    if (p?.appProtocol !== undefined && p?.appProtocol !== null) errs.push(...validateQualifiedName(`${pp}.appProtocol`, String(p.appProtocol)));
    // The range check (30000-32767 by default) belongs to the node-port allocator.
    if (p?.nodePort !== undefined && p?.nodePort !== null && p.nodePort !== 0) {
      errs.push(...each(`${pp}.nodePort`, p.nodePort, isValidPortNum(Number(p.nodePort))));
    }
  });
  if (spec.selector !== undefined && spec.selector !== null) errs.push(...validateLabels('spec.selector', spec.selector));
  const sa = spec.sessionAffinity;
  if (!sa) errs.push(required('spec.sessionAffinity'));
  else if (sa !== 'ClientIP' && sa !== 'None') errs.push(notSupported('spec.sessionAffinity', sa, ['ClientIP', 'None']));
  if (sa === 'ClientIP') {
    const cfg = spec.sessionAffinityConfig;
    const when = 'when session affinity type is ClientIP';
    if (!isObj(cfg)) errs.push(required('spec.sessionAffinityConfig', when));
    else if (!isObj(cfg.clientIP)) errs.push(required('spec.sessionAffinityConfig.clientIP', when));
    else if (cfg.clientIP.timeoutSeconds === undefined || cfg.clientIP.timeoutSeconds === null) {
      errs.push(required('spec.sessionAffinityConfig.clientIP.timeoutSeconds', when));
    } else {
      const t = cfg.clientIP.timeoutSeconds;
      if (!(t > 0 && t <= MAX_AFFINITY_SECONDS)) {
        errs.push(invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, `must be greater than 0 and less than ${MAX_AFFINITY_SECONDS}`));
      }
    }
  } else if (sa === 'None' && spec.sessionAffinityConfig !== undefined && spec.sessionAffinityConfig !== null) {
    errs.push(forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPs(spec));
  arr(spec.externalIPs).forEach((ip, i) => {
    const e = validateIP(`spec.externalIPs[${i}]`, String(ip));
    errs.push(...(e.length ? e : validateNonSpecialIP(`spec.externalIPs[${i}]`, String(ip))));
  });
  if (!spec.type) errs.push(required('spec.type'));
  else if (!TYPES.includes(spec.type)) errs.push(notSupported('spec.type', spec.type, TYPES));
  if (spec.type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (p?.nodePort) errs.push(forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    if (!p?.nodePort) return;
    const key = `${p.protocol}/${p.nodePort}`;
    if (nodePorts.has(key)) errs.push(duplicate(`spec.ports[${i}].nodePort`, p.nodePort));
    nodePorts.add(key);
  });
  const portKeys = new Set<string>();
  ports.forEach((p, i) => {
    const key = `${p?.protocol}/${p?.port}`;
    if (portKeys.has(key)) errs.push(duplicate(`spec.ports[${i}]`, goServicePortKey(p?.protocol, p?.port)));
    portKeys.add(key);
  });
  const ranges = arr(spec.loadBalancerSourceRanges);
  if (ranges.length) {
    if (spec.type !== 'LoadBalancer') errs.push(forbidden('spec.LoadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...validateCIDR(`spec.LoadBalancerSourceRanges[${i}]`, String(r).trim())));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== null && spec.type !== 'LoadBalancer') {
    errs.push(forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    errs.push(required('allocateLoadBalancerNodePorts'));
  }
  if (!externallyAccessible(spec)) {
    if (spec.externalTrafficPolicy)
      errs.push(invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
  } else if (!spec.externalTrafficPolicy) {
    errs.push(required('spec.externalTrafficPolicy'));
  } else if (spec.externalTrafficPolicy !== 'Cluster' && spec.externalTrafficPolicy !== 'Local') {
    errs.push(notSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']));
  }
  const hc = spec.healthCheckNodePort;
  if (!needsHealthCheck(spec)) {
    if (hc) errs.push(invalid('spec.healthCheckNodePort', hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  } else if (hc) {
    // Zero is left for the allocator to fill, like clusterIP and nodePort.
    errs.push(...each('spec.healthCheckNodePort', hc, isValidPortNum(Number(hc))));
  }
  if (spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) {
    if (['NodePort', 'LoadBalancer', 'ClusterIP'].includes(spec.type ?? '')) errs.push(required('spec.internalTrafficPolicy'));
  } else if (spec.internalTrafficPolicy !== 'Cluster' && spec.internalTrafficPolicy !== 'Local') {
    errs.push(notSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, ['Cluster', 'Local']));
  }
  if (spec.trafficDistribution !== undefined && spec.trafficDistribution !== null && spec.trafficDistribution !== 'PreferClose') {
    errs.push(notSupported('spec.trafficDistribution', spec.trafficDistribution, ['PreferClose']));
  }
  return errs;
}

function validateUpdate(obj: Service, old: Service): FieldError[] {
  const n = fieldsOf(obj.spec);
  const o = fieldsOf(old.spec);
  const errs: FieldError[] = [];
  if (n.type !== 'ExternalName' && o.type !== 'ExternalName' && !(isHeadless(n) && isHeadless(o))) {
    const ni = arr(n.clusterIPs).map(String);
    const oi = arr(o.clusterIPs).map(String);
    const change = (i: number) => invalid(`spec.clusterIPs[${i}]`, goStringSlice(arr(n.clusterIPs)), 'may not change once set');
    if (oi.length === ni.length) {
      oi.forEach((ip, i) => {
        if (ip !== ni[i]) errs.push(change(i));
      });
    } else if (oi.length > ni.length) {
      if (ni.length === 0) errs.push(invalid('spec.clusterIPs[0]', goStringSlice(arr(n.clusterIPs)), 'primary clusterIP can not be unset'));
      if (oi.length > 0 && ni.length > 0 && ni[0] !== oi[0]) errs.push(change(0));
      if (ni.length === 1 && n.ipFamilyPolicy !== 'SingleStack') {
        errs.push(invalid('spec.ipFamilyPolicy', n.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
    } else if (oi.length > 0 && ni[0] !== oi[0]) {
      errs.push(change(0));
    }
  }
  if (n.type !== 'ExternalName' && o.type !== 'ExternalName' && isHeadless(n) === isHeadless(o) && !isHeadless(n)) {
    const nf = arr(n.ipFamilies);
    const of = arr(o.ipFamilies);
    if (nf.length === of.length) {
      if (of.some((f, i) => f !== nf[i])) errs.push(invalid('spec.ipFamilies[0]', goStringSlice(nf, '[]core.IPFamily'), 'may not change once set'));
    } else if (of.length > nf.length) {
      if (nf.length > 0 && nf[0] !== of[0]) errs.push(invalid('spec.ipFamilies[0]', goStringSlice(arr(n.clusterIPs)), 'may not change once set'));
      if (nf.length === 1 && n.ipFamilyPolicy !== 'SingleStack') {
        errs.push(invalid('spec.ipFamilyPolicy', n.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary ipFamily"));
      }
    } else if (of.length > 0 && nf[0] !== of[0]) {
      errs.push(invalid('spec.ipFamilies[0]', goStringSlice(arr(n.clusterIPs)), 'may not change once set'));
    }
  }
  if (needsHealthCheck(o) && needsHealthCheck(n) && (n.healthCheckNodePort ?? 0) !== (o.healthCheckNodePort ?? 0)) {
    errs.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  return errs;
}

function validateStatus(obj: Service): FieldError[] {
  const ingress = arr(obj.status?.loadBalancer?.ingress);
  if (obj.spec?.type !== 'LoadBalancer' && ingress.length) {
    return [forbidden('status.loadBalancer.ingress', "may only be used when `spec.type` is 'LoadBalancer'")];
  }
  const errs: FieldError[] = [];
  ingress.forEach((ing, i) => {
    const p = `status.loadBalancer.ingress[${i}]`;
    if (ing?.ip) errs.push(...validateIP(`${p}.ip`, String(ing.ip)));
    if (ing?.ipMode !== undefined && ing?.ipMode !== null) {
      if (!ing.ip) errs.push(forbidden(`${p}.ipMode`, 'may not be specified when `ip` is not set'));
      else if (ing.ipMode !== 'Proxy' && ing.ipMode !== 'VIP') errs.push(notSupported(`${p}.ipMode`, ing.ipMode, ['Proxy', 'VIP']));
    }
    if (ing?.hostname) {
      errs.push(...each(`${p}.hostname`, ing.hostname, isDNS1123Subdomain(String(ing.hostname))));
      if (parseIP(String(ing.hostname))) errs.push(invalid(`${p}.hostname`, ing.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}

/** External-IP cell: external IPs, load-balancer ingress ("<pending>" before any), or the external name. */
export function externalIPCell(obj: Service): string {
  const spec = fieldsOf(obj.spec);
  const ext = arr(spec.externalIPs).map(String);
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return ext.length ? ext.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = [
        ...new Set(
          arr(obj.status?.loadBalancer?.ingress)
            .map((i) => i?.ip || i?.hostname)
            .filter(Boolean)
            .map(String),
        ),
      ].sort();
      if (ext.length) return [...lb, ...ext].join(',');
      return lb.length ? lb.join(',') : '<pending>';
    }
    case 'ExternalName':
      return String(spec.externalName ?? '');
  }
  return '<unknown>';
}

/** "80/TCP", "80:30080/TCP", comma-separated; "<none>" without ports. */
export function portsCell(ports: ServicePort[] | undefined): string {
  const s = arr(ports)
    .map((p) => ((p?.nodePort ?? 0) > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? ''}` : `${p?.port ?? 0}/${p?.protocol ?? ''}`))
    .join(',');
  return s || '<none>';
}

export const serviceStrategy: ResourceStrategy<Service> = {
  defaults,
  prepareForUpdate,
  validate,
  validateUpdate,
  validateStatus,
  columns: [
    NAME_COLUMN,
    docColumn('Type', 'string', 'ServiceSpec.type'),
    docColumn('Cluster-IP', 'string', 'ServiceSpec.clusterIP'),
    docColumn('External-IP', 'string', 'ServiceSpec.externalIPs'),
    docColumn('Port(s)', 'string', 'ServiceSpec.ports'),
    AGE_COLUMN,
    docColumn('Selector', 'string', 'ServiceSpec.selector', 1),
  ],
  row(obj, now) {
    const spec = fieldsOf(obj.spec);
    const clusterIP = arr(spec.clusterIPs)[0] ?? (spec.clusterIP || '<none>');
    return [
      obj.metadata.name ?? '',
      String(spec.type ?? ''),
      clusterIP,
      externalIPCell(obj),
      portsCell(spec.ports),
      age(obj, now),
      formatLabels(spec.selector),
    ];
  },
  fields(obj) {
    return { 'spec.clusterIP': String(obj.spec?.clusterIP ?? ''), 'spec.type': String(obj.spec?.type ?? '') };
  },
};
