// NetworkPolicies: policyTypes/protocol defaults, selector, port, peer and ipBlock checks, the table.
import type { FieldError, NetworkPolicy } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import {
  each,
  forbidden,
  GoValue,
  goStringSlice,
  invalid,
  isValidPortName,
  isValidPortNum,
  notSupported,
  required,
  validateCIDR,
  validateLabelSelector,
} from '../validation.js';
import { isCIDR, isStrictSubnet } from '../ipaddr.js';
import { formatLabelSelector } from '../labels.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { arr, asObj, fieldsOf, isObj } from '../narrow.js';

function validatePort(p: string, portIn: unknown): FieldError[] {
  const port = asObj(portIn);
  const errs: FieldError[] = [];
  if (port?.protocol !== undefined && port?.protocol !== null && !['TCP', 'UDP', 'SCTP'].includes(String(port.protocol))) {
    errs.push(notSupported(`${p}.protocol`, port.protocol, ['TCP', 'UDP', 'SCTP']));
  }
  const end = port?.endPort;
  const hasEnd = end !== undefined && end !== null;
  if (typeof port?.port === 'number') {
    errs.push(...each(`${p}.port`, port.port, isValidPortNum(port.port)));
    if (hasEnd) {
      if (typeof end === 'number' && end < port.port) errs.push(invalid(`${p}.endPort`, port.port, 'must be greater than or equal to `port`'));
      errs.push(...each(`${p}.endPort`, end, isValidPortNum(Number(end))));
    }
  } else if (typeof port?.port === 'string') {
    if (hasEnd) errs.push(invalid(`${p}.endPort`, end, 'may not be specified when `port` is non-numeric'));
    errs.push(...each(`${p}.port`, port.port, isValidPortName(port.port)));
  } else if (hasEnd) {
    errs.push(invalid(`${p}.endPort`, end, 'may not be specified when `port` is not specified'));
  }
  return errs;
}

function validatePeer(p: string, peerIn: unknown): FieldError[] {
  const peer = asObj(peerIn);
  const errs: FieldError[] = [];
  let n = 0;
  if (peer?.podSelector != null) {
    n++;
    errs.push(...validateLabelSelector(`${p}.podSelector`, peer.podSelector));
  }
  if (peer?.namespaceSelector != null) {
    n++;
    errs.push(...validateLabelSelector(`${p}.namespaceSelector`, peer.namespaceSelector));
  }
  if (peer?.ipBlock != null) {
    n++;
    const b = asObj(peer.ipBlock);
    if (!b?.cidr) errs.push(required(`${p}.ipBlock.cidr`));
    else {
      errs.push(...validateCIDR(`${p}.ipBlock.cidr`, String(b.cidr)));
      if (isCIDR(String(b.cidr))) {
        arr(b.except).forEach((e, i) => {
          const f = `${p}.ipBlock.except[${i}]`;
          const ce = validateCIDR(f, String(e));
          errs.push(...ce);
          if (!ce.length && !isStrictSubnet(String(e), String(b.cidr))) errs.push(invalid(f, String(e), 'must be a strict subset of `cidr`'));
        });
      }
    }
  }
  if (n === 0) errs.push(required(p, 'must specify a peer'));
  else if (n > 1 && peer?.ipBlock != null) errs.push(forbidden(p, 'may not specify both ipBlock and another peer'));
  return errs;
}

function validate(obj: NetworkPolicy): FieldError[] {
  const spec = fieldsOf(obj.spec);
  const errs = validateLabelSelector('spec.podSelector', spec.podSelector);
  arr(spec.ingress).forEach((rule, i) => {
    arr(rule?.ports).forEach((pt, j) => errs.push(...validatePort(`spec.ingress[${i}].ports[${j}]`, pt)));
    arr(rule?.from).forEach((peer, j) => errs.push(...validatePeer(`spec.ingress[${i}].from[${j}]`, peer)));
  });
  arr(spec.egress).forEach((rule, i) => {
    arr(rule?.to).forEach((peer, j) => errs.push(...validatePeer(`spec.egress[${i}].to[${j}]`, peer)));
    arr(rule?.ports).forEach((pt, j) => errs.push(...validatePort(`spec.egress[${i}].ports[${j}]`, pt)));
  });
  const types = arr(spec.policyTypes);
  if (types.length > 2) {
    errs.push(
      invalid('spec.policyTypes', new GoValue(`&${goStringSlice(types, '[]networking.PolicyType').text}`), 'may not specify more than two policyTypes'),
    );
    return errs;
  }
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') errs.push(notSupported(`spec.policyTypes[${i}]`, t, ['Ingress', 'Egress']));
  });
  return errs;
}

export const networkPolicyStrategy: ResourceStrategy<NetworkPolicy> = {
  defaults(obj) {
    if (!isObj(obj.spec)) obj.spec = {};
    const spec = obj.spec;
    if (!isObj(spec.podSelector)) spec.podSelector = {};
    for (const rule of [...arr(spec.ingress), ...arr(spec.egress)]) {
      for (const p of arr(rule?.ports)) if (isObj(p) && !p.protocol) p.protocol = 'TCP';
    }
    if (arr(spec.policyTypes).length === 0) {
      spec.policyTypes = arr(spec.egress).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
    }
  },
  validate,
  columns: [NAME_COLUMN, docColumn('Pod-Selector', 'string', 'NetworkPolicySpec.podSelector'), AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata.name ?? '', formatLabelSelector(obj.spec?.podSelector ?? {}), age(obj, now)];
  },
};
