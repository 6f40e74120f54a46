// Endpoints: port protocol default, subset validation, the "ip:port,... + N more..." column.
import type { Endpoints, FieldError } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  each,
  isValidPortNum,
  required,
  validateDNS1123Label,
  validateDNS1123Subdomain,
  validateIP,
  validateNonSpecialIP,
  validateProtocol,
  validateQualifiedName,
} from '../validation.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { arr, asObj, isObj } from '../narrow.js';

function validateAddress(field: string, aIn: unknown): FieldError[] {
  const a = asObj(aIn);
  const ip = String(a?.ip ?? '');
  const errs = validateIP(`${field}.ip`, ip);
  if (a?.hostname) errs.push(...validateDNS1123Label(`${field}.hostname`, String(a.hostname)));
  if (a?.nodeName !== undefined && a?.nodeName !== null) errs.push(...validateDNS1123Subdomain(`${field}.nodeName`, String(a.nodeName)));
  errs.push(...validateNonSpecialIP(`${field}.ip`, ip));
  return errs;
}

function validate(obj: Endpoints): FieldError[] {
  const errs: FieldError[] = [];
  arr(obj.subsets).forEach((ss, i) => {
    const p = `subsets[${i}]`;
    const ready = arr(ss?.addresses);
    const notReady = arr(ss?.notReadyAddresses);
    if (ready.length === 0 && notReady.length === 0) errs.push(required(p, 'must specify `addresses` or `notReadyAddresses`'));
    ready.forEach((a, j) => errs.push(...validateAddress(`${p}.addresses[${j}]`, a)));
    notReady.forEach((a, j) => errs.push(...validateAddress(`${p}.notReadyAddresses[${j}]`, a)));
    const ports = arr(ss?.ports);
    ports.forEach((pt, j) => {
      const pp = `${p}.ports[${j}]`;
      if (ports.length > 1 && !pt?.name) errs.push(required(`${pp}.name`));
      else if (pt?.name) errs.push(...validateDNS1123Label(`${pp}.name`, String(pt.name)));
      errs.push(...each(`${pp}.port`, pt?.port ?? 0, isValidPortNum(Number(pt?.port ?? 0))));
      errs.push(...validateProtocol(`${pp}.protocol`, pt?.protocol));
      if (pt?.appProtocol !== undefined && pt?.appProtocol !== null) errs.push(...validateQualifiedName(`${pp}.appProtocol`, String(pt.appProtocol)));
    });
  });
  return errs;
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** formatEndpoints: the first three ip:port pairs (bare IPs for port-less subsets), then "+ N more...". */
export function formatEndpoints(obj: Endpoints): string {
  const subsets = arr(obj.subsets);
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs = arr(ss?.addresses);
    const ports = arr(ss?.ports);
    if (ports.length === 0) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(String(a?.ip ?? ''));
      }
      continue;
    }
    for (const pt of ports) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === max) {
          more = true;
          break;
        }
        list.push(hostPort(String(a?.ip ?? ''), Number(pt?.port ?? 0)));
      }
    }
  }
  const ret = list.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}

export const endpointsStrategy: ResourceStrategy<Endpoints> = {
  defaults(obj) {
    for (const ss of arr(obj.subsets)) for (const p of arr(ss?.ports)) if (isObj(p)) p.protocol ||= 'TCP';
  },
  validate,
  columns: [NAME_COLUMN, docColumn('Endpoints', 'string', 'Endpoints.subsets'), AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata.name ?? '', formatEndpoints(obj), age(obj, now)];
  },
};
