// EndpointSlices: port defaults, addressType and address checks, ports, immutable addressType, table.
import type { EndpointSlice, FieldError } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  duplicate,
  each,
  isValidPortNum,
  notSupported,
  PROTOCOLS,
  required,
  tooMany,
  validateDNS1123Label,
  validateFullyQualifiedDomainName,
  validateImmutable,
  validateIPv4,
  validateIPv6,
  validateLabels,
  validateNonSpecialIP,
  validateQualifiedName,
} from '../validation.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { arr, isObj, isOneOf } from '../narrow.js';

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const MAX_ENDPOINTS = 1000;
const MAX_ADDRESSES = 100;
const MAX_PORTS = 20000;
const MAX_TOPOLOGY = 16;

function validate(obj: EndpointSlice): FieldError[] {
  const errs: FieldError[] = [];
  const type = obj.addressType;
  if (!type) errs.push(required('addressType'));
  else if (!ADDRESS_TYPES.includes(type)) errs.push(notSupported('addressType', type, ADDRESS_TYPES));
  const endpoints = arr(obj.endpoints);
  if (endpoints.length > MAX_ENDPOINTS) errs.push(tooMany('endpoints', endpoints.length, MAX_ENDPOINTS));
  else
    endpoints.forEach((ep, i) => {
      const p = `endpoints[${i}]`;
      const addrs = arr(ep?.addresses);
      if (addrs.length === 0) errs.push(required(`${p}.addresses`, 'must contain at least 1 address'));
      else if (addrs.length > MAX_ADDRESSES) errs.push(tooMany(`${p}.addresses`, addrs.length, MAX_ADDRESSES));
      addrs.forEach((a, j) => {
        const f = `${p}.addresses[${j}]`;
        const s = String(a);
        if (type === 'IPv4') errs.push(...validateIPv4(f, s), ...validateNonSpecialIP(f, s));
        else if (type === 'IPv6') errs.push(...validateIPv6(f, s), ...validateNonSpecialIP(f, s));
        else if (type === 'FQDN') errs.push(...validateFullyQualifiedDomainName(f, s));
      });
      const topo = ep?.deprecatedTopology;
      if (isObj(topo) && Object.keys(topo).length > MAX_TOPOLOGY) errs.push(tooMany(`${p}.deprecatedTopology`, Object.keys(topo).length, MAX_TOPOLOGY));
      errs.push(...validateLabels(`${p}.deprecatedTopology`, topo));
      if (ep?.hostname !== undefined && ep?.hostname !== null) errs.push(...validateDNS1123Label(`${p}.hostname`, String(ep.hostname)));
    });
  const ports = arr(obj.ports);
  if (ports.length > MAX_PORTS) errs.push(tooMany('ports', ports.length, MAX_PORTS));
  else {
    const names = new Set<string>();
    ports.forEach((pt, i) => {
      const p = `ports[${i}]`;
      const name = String(pt?.name ?? '');
      if (name) errs.push(...validateDNS1123Label(`${p}.name`, name));
      if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
      names.add(name);
      if (!pt?.protocol) errs.push(required(`${p}.protocol`));
      else if (!isOneOf(PROTOCOLS, pt.protocol)) errs.push(notSupported(`${p}.protocol`, pt.protocol, PROTOCOLS));
      if (typeof pt?.port === 'number') errs.push(...each(`${p}.port`, pt.port, isValidPortNum(pt.port)));
      if (pt?.appProtocol !== undefined && pt?.appProtocol !== null) errs.push(...validateQualifiedName(`${p}.appProtocol`, String(pt.appProtocol)));
    });
  }
  return errs;
}

/** Up to three entries then " + N more...", "<unset>" when empty (listWithMoreString). */
function listWithMore(items: string[]): string {
  if (items.length > 3) return `${items.slice(0, 3).join(',')} + ${items.length - 3} more...`;
  return items.join(',') || '<unset>';
}

export const endpointSliceStrategy: ResourceStrategy<EndpointSlice> = {
  defaults(obj) {
    for (const p of arr(obj.ports)) {
      if (!isObj(p)) continue;
      if (p.name === undefined || p.name === null) p.name = '';
      p.protocol ||= 'TCP';
    }
  },
  validate,
  validateUpdate(obj, old) {
    return validateImmutable('addressType', obj.addressType ?? '', old.addressType ?? '');
  },
  columns: [
    NAME_COLUMN,
    docColumn('AddressType', 'string', 'EndpointSlice.addressType'),
    docColumn('Ports', 'string', 'EndpointSlice.ports'),
    docColumn('Endpoints', 'string', 'EndpointSlice.endpoints'),
    AGE_COLUMN,
  ],
  row(obj, now) {
    const ports = arr(obj.ports).map((p) => (typeof p?.port === 'number' ? String(p.port) : p?.name ? String(p.name) : '*'));
    const addrs = arr(obj.endpoints).flatMap((e) => arr(e?.addresses).map(String));
    return [obj.metadata.name ?? '', String(obj.addressType ?? ''), listWithMore(ports), listWithMore(addrs), age(obj, now)];
  },
};
