// Nodes: allocatable default, taints, pod CIDRs, update rules, the kubectl table, spec.unschedulable.
import type { FieldError, Node, Taint } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  duplicate,
  forbidden,
  goQuote,
  goStringSlice,
  GoValue,
  invalid,
  isValidLabelValue,
  notSupported,
  required,
  validateCIDR,
  validateDNS1123Subdomain,
  validateIP,
  validateLabelName,
  validateQuantity,
} from '../validation.js';
import { isV4, parseIP } from '../ipaddr.js';
import { AGE_COLUMN, age, column, docColumn, NAME_COLUMN } from './columns.js';
import { arr, isObj, fieldsOf } from '../narrow.js';

const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function validateTaints(field: string, taints: Taint[] | undefined): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  arr(taints).forEach((t, i) => {
    const p = `${field}[${i}]`;
    const key = String(t?.key ?? '');
    const value = String(t?.value ?? '');
    errs.push(...validateLabelName(`${p}.key`, key));
    const ve = isValidLabelValue(value);
    if (ve.length) errs.push(invalid(`${p}.value`, value, ve.join(';')));
    const effect = t?.effect ?? '';
    if (!effect) errs.push(required(`${p}.effect`));
    else if (!EFFECTS.includes(effect)) errs.push(notSupported(`${p}.effect`, effect, EFFECTS));
    const k = `${effect}\u0000${key}`;
    if (seen.has(k)) {
      const dup = duplicate(
        p,
        new GoValue(`core.Taint{Key:${goQuote(key)}, Value:${goQuote(value)}, Effect:${goQuote(String(effect))}, TimeAdded:(*v1.Time)(nil)}`),
      );
      errs.push({ ...dup, message: `${dup.message}: taints must be unique by key and effect pair` });
      return;
    }
    seen.add(k);
  });
  return errs;
}

function validateResources(obj: Node): FieldError[] {
  const errs: FieldError[] = [];
  for (const part of ['capacity', 'allocatable'] as const) {
    const list = obj.status?.[part];
    if (!isObj(list)) continue;
    for (const [k, v] of Object.entries(list)) errs.push(...validateQuantity(`status.${part}.${k}`, v));
  }
  return errs;
}

function validate(obj: Node): FieldError[] {
  const spec = fieldsOf(obj.spec);
  // Kubernetes reports node taints under metadata.taints.
  const errs = [...validateTaints('metadata.taints', spec.taints), ...validateResources(obj), ...validateAddresses(obj)];
  // Pod CIDRs reach every node's `ip -batch` and `nft -f` input: only a CIDR in canonical form passes.
  const cidrs = arr(spec.podCIDRs).map(String);
  cidrs.forEach((c, i) => errs.push(...validatePodCIDR(`spec.podCIDRs[${i}]`, c)));
  if (spec.podCIDR !== undefined && spec.podCIDR !== '') {
    const c = String(spec.podCIDR);
    if (cidrs[0] !== c) errs.push(...validatePodCIDR('spec.podCIDR', c));
    if (cidrs.length && cidrs[0] !== c) errs.push(invalid('spec.podCIDR', c, `must be the first of spec.podCIDRs (${goQuote(cidrs[0])})`));
  }
  if (cidrs.length > 1) {
    const fam = (c: string) => isV4(parseIP(c.split('/')[0]) ?? new Uint8Array(16));
    if (cidrs.length > 2 || fam(cidrs[0]) === fam(cidrs[1])) {
      errs.push(invalid('spec.podCIDRs', goStringSlice(cidrs), 'may specify no more than one CIDR for each IP family'));
    }
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
      if (seen.has(c)) errs.push(duplicate(`spec.podCIDRs[${i}]`, c));
      seen.add(c);
    });
  }
  return errs;
}

/** A CIDR that parses and is written as its own network address: "10.244.1.0/24", not "10.244.1.7/24",
 *  "010.244.1.0/24" or anything with spaces. */
function validatePodCIDR(field: string, value: string): FieldError[] {
  const errs = validateCIDR(field, value);
  if (errs.length) return errs;
  const [addr, bits] = value.split('/');
  if (!isV4(parseIP(addr)!)) return [];
  const octets = addr.split('.').map(Number);
  const n = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  const prefix = Number(bits);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (n & mask) >>> 0;
  const canonical = `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.${base & 255}/${prefix}`;
  return canonical === value ? [] : [invalid(field, value, `must be a network address in canonical form (did you mean ${goQuote(canonical)}?)`)];
}

const ADDRESS_TYPES = ['Hostname', 'InternalIP', 'ExternalIP', 'InternalDNS', 'ExternalDNS'];

/** Node addresses are handed to routes, the masquerade set and the API server's calls to the node:
 *  an IP type must hold an IP, a name type a DNS subdomain, and nothing else gets through. */
function validateAddresses(obj: Node): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  arr(obj.status?.addresses).forEach((a, i) => {
    const p = `status.addresses[${i}]`;
    if (!isObj(a)) return void errs.push(invalid(p, a, 'must be an object with type and address'));
    const type = a.type === undefined ? '' : String(a.type);
    const address = a.address === undefined ? '' : String(a.address);
    if (!type) errs.push(required(`${p}.type`));
    else if (!ADDRESS_TYPES.includes(type)) errs.push(notSupported(`${p}.type`, type, ADDRESS_TYPES));
    if (!address) errs.push(required(`${p}.address`));
    else if (type.endsWith('IP')) {
      const ipErrs = validateIP(`${p}.address`, address);
      // Leading zeros read as octal to some tools and decimal to others: not in an address nodes act on.
      if (!ipErrs.length && /(^|[.:])0\d/.test(address) && !address.includes(':')) ipErrs.push(invalid(`${p}.address`, address, 'must not have leading 0s'));
      errs.push(...ipErrs);
    } else if (ADDRESS_TYPES.includes(type)) errs.push(...validateDNS1123Subdomain(`${p}.address`, address));
    const k = `${a?.type}\u0000${a?.address}`;
    if (seen.has(k)) {
      errs.push(
        duplicate(
          `status.addresses[${i}]`,
          new GoValue(`core.NodeAddress{Type:${goQuote(String(a?.type ?? ''))}, Address:${goQuote(String(a?.address ?? ''))}}`),
        ),
      );
    }
    seen.add(k);
  });
  return errs;
}

function validateUpdate(obj: Node, old: Node): FieldError[] {
  const errs: FieldError[] = [];
  const oc = arr(old.spec?.podCIDRs).map(String);
  const nc = arr(obj.spec?.podCIDRs).map(String);
  const cidrMsg = 'node updates may not change podCIDR except from "" to valid';
  if (oc.length) {
    if (oc.length !== nc.length) errs.push(forbidden('spec.podCIDRs', cidrMsg));
    else
      oc.forEach((c, i) => {
        if (c !== nc[i]) errs.push(forbidden('spec.podCIDRs', cidrMsg));
      });
  }
  if (old.spec?.providerID && old.spec.providerID !== obj.spec?.providerID) {
    errs.push(forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  if ((obj.spec?.externalID ?? '') !== (old.spec?.externalID ?? '')) errs.push(forbidden('spec.externalID', 'may not be updated'));
  return errs;
}

/** Ready / NotReady / Unknown from the Ready condition, plus SchedulingDisabled when cordoned. */
export function nodeStatusCell(obj: Node): string {
  const ready = arr(obj.status?.conditions)
    .filter((c) => c?.type === 'Ready')
    .pop();
  const status = ready ? [ready.status === 'True' ? 'Ready' : 'NotReady'] : ['Unknown'];
  if (obj.spec?.unschedulable === true) status.push('SchedulingDisabled');
  return status.join(',');
}

/** Roles from node-role.kubernetes.io/<role> labels and kubernetes.io/role=<role>, sorted. */
export function nodeRoles(obj: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && v) {
      roles.add(v);
    }
  }
  return [...roles].sort().join(',') || '<none>';
}

function address(obj: Node, type: string): string {
  return arr(obj.status?.addresses).find((a) => a?.type === type)?.address ?? '<none>';
}

export const nodeStrategy: ResourceStrategy<Node> = {
  defaults(obj) {
    // v1 keeps podCIDR and podCIDRs in step (podCIDR is podCIDRs[0]), so either spelling is checked and
    // kept immutable as the pair.
    if (isObj(obj.spec)) {
      const list = Array.isArray(obj.spec.podCIDRs) ? obj.spec.podCIDRs : [];
      if (typeof obj.spec.podCIDR === 'string' && obj.spec.podCIDR && list.length === 0) obj.spec.podCIDRs = [obj.spec.podCIDR];
      else if (!obj.spec.podCIDR && typeof list[0] === 'string' && list[0]) obj.spec.podCIDR = list[0];
    }
    if (isObj(obj.status) && isObj(obj.status.capacity) && !isObj(obj.status.allocatable)) {
      obj.status.allocatable = { ...obj.status.capacity };
    }
  },
  validate,
  validateUpdate,
  validateStatus(obj, old) {
    return [...validateResources(obj), ...validateAddresses(obj), ...validateUpdate(obj, old)];
  },
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'The status of the node'),
    column('Roles', 'string', 'The roles of the node'),
    AGE_COLUMN,
    docColumn('Version', 'string', 'NodeSystemInfo.kubeletVersion'),
    docColumn('Internal-IP', 'string', 'NodeStatus.addresses', 1),
    docColumn('External-IP', 'string', 'NodeStatus.addresses', 1),
    docColumn('OS-Image', 'string', 'NodeSystemInfo.osImage', 1),
    docColumn('Kernel-Version', 'string', 'NodeSystemInfo.kernelVersion', 1),
    docColumn('Container-Runtime', 'string', 'NodeSystemInfo.containerRuntimeVersion', 1),
  ],
  row(obj, now) {
    const info = fieldsOf(obj.status?.nodeInfo);
    return [
      obj.metadata.name ?? '',
      nodeStatusCell(obj),
      nodeRoles(obj),
      age(obj, now),
      String(info.kubeletVersion ?? ''),
      address(obj, 'InternalIP'),
      address(obj, 'ExternalIP'),
      info.osImage || '<unknown>',
      info.kernelVersion || '<unknown>',
      info.containerRuntimeVersion || '<unknown>',
    ];
  },
  fields(obj) {
    return { 'spec.unschedulable': String(obj.spec?.unschedulable === true) };
  },
};
