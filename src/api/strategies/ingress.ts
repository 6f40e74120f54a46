// networking.k8s.io/v1 Ingress and IngressClass as Kubernetes stores them: validation of rules (hosts,
// wildcards, paths per pathType, backends to a service port or a typed resource), TLS, the default
// backend and class name; IngressClass controller and parameters; the default class admission; tables
// as kubectl prints them. Like Kubernetes itself, k8ts ships no ingress controller.
import type * as networking from 'kubernetes-types/networking/v1.js';
import type * as core from 'kubernetes-types/core/v1.js';
import type { FieldError, Incomplete, Ingress, IngressClass, KObject } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { parseIP } from '../ipaddr.js';
import {
  byteLength,
  DNS1123_SUBDOMAIN_MAX,
  each,
  forbidden,
  invalid,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isValidPathSegmentName,
  isValidPortName,
  isValidPortNum,
  maxLenError,
  notSupported,
  regexError,
  required,
  tooLong,
  validateImmutable,
} from '../validation.js';
import { AGE_COLUMN, age, column, NAME_COLUMN } from './columns.js';
import { arr, isObj, fieldsOf } from '../narrow.js';

/** Set to "true" on the IngressClass new Ingresses without a class get. */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The class annotation that predates spec.ingressClassName. */
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

const wildcardFmt = '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
const wildcardRe = new RegExp(`^${wildcardFmt}$`);
const httpPathFmt = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const httpPathRe = new RegExp(`^${httpPathFmt}$`);
const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];
const INVALID_PATH_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_PATH_SUFFIXES = ['/..', '/.'];
const MAX_CONTROLLER_LEN = 250;

export function isWildcardDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (byteLength(value) > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!wildcardRe.test(value)) {
    errs.push(
      regexError(
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
        wildcardFmt,
        '*.example.com',
      ),
    );
  }
  return errs;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
/** A string with something in it (a client's `host: 5` is not one). */
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** A TypedLocalObjectReference (a resource backend, IngressClass parameters). */
function validateTypedRef(ref: core.TypedLocalObjectReference | networking.IngressClassParametersReference | undefined, p: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObj(ref)) return errs;
  if (ref.apiGroup !== undefined && ref.apiGroup !== null) errs.push(...each(`${p}.apiGroup`, ref.apiGroup, isDNS1123Subdomain(str(ref.apiGroup))));
  if (!ref.kind) errs.push(required(`${p}.kind`, 'kind is required'));
  else errs.push(...each(`${p}.kind`, ref.kind, isValidPathSegmentName(str(ref.kind))));
  if (!ref.name) errs.push(required(`${p}.name`, 'name is required'));
  else errs.push(...each(`${p}.name`, ref.name, isValidPathSegmentName(str(ref.name))));
  return errs;
}

function validateBackend(b: networking.IngressBackend | undefined, p: string): FieldError[] {
  const hasResource = isObj(b) && b.resource != null;
  const hasService = isObj(b) && b.service != null;
  if (hasResource && hasService) return [invalid(p, '', 'cannot set both resource and service backends')];
  if (hasResource) return validateTypedRef(b.resource, `${p}.resource`);
  if (!hasService) return [invalid(p, '', 'resource or service backend is required')];
  const errs: FieldError[] = [];
  const svc = fieldsOf(b.service);
  if (!svc.name) errs.push(required(`${p}.service.name`));
  else errs.push(...each(`${p}.service.name`, svc.name, isDNS1035Label(str(svc.name))));
  const port = fieldsOf(svc.port);
  const hasName = nonEmpty(port.name);
  const hasNumber = typeof port.number === 'number' && port.number !== 0;
  if (hasName && hasNumber) errs.push(invalid(p, '', 'cannot set both port name & port number'));
  else if (hasName) errs.push(...each(`${p}.service.port.name`, port.name, isValidPortName(str(port.name))));
  else if (hasNumber) errs.push(...each(`${p}.service.port.number`, port.number, isValidPortNum(port.number!)));
  else errs.push(required(p, 'port name or number is required'));
  return errs;
}

function validatePath(path: networking.HTTPIngressPath | undefined, p: string): FieldError[] {
  const errs: FieldError[] = [];
  const type = path?.pathType;
  if (type === undefined || type === null) return [required(`${p}.pathType`, 'pathType must be specified')];
  const value = str(path?.path);
  if (type === 'Exact' || type === 'Prefix') {
    if (!value.startsWith('/')) errs.push(invalid(`${p}.path`, value, 'must be an absolute path'));
    if (value.length > 0) {
      for (const seq of INVALID_PATH_SEQUENCES) if (value.includes(seq)) errs.push(invalid(`${p}.path`, value, `must not contain '${seq}'`));
      for (const suf of INVALID_PATH_SUFFIXES) if (value.endsWith(suf)) errs.push(invalid(`${p}.path`, value, `cannot end with '${suf}'`));
    }
  } else if (type === 'ImplementationSpecific') {
    if (value.length > 0 && !value.startsWith('/')) errs.push(invalid(`${p}.path`, value, 'must be an absolute path'));
  } else {
    errs.push(notSupported(`${p}.pathType`, type, PATH_TYPES));
  }
  errs.push(...validateBackend(path?.backend, `${p}.backend`));
  return errs;
}

function validateHost(host: string, p: string): { errs: FieldError[]; wildcard: boolean } {
  const errs: FieldError[] = [];
  if (parseIP(host)) errs.push(invalid(p, host, 'must be a DNS name, not an IP address'));
  if (host.includes('*')) return { errs: [...errs, ...each(p, host, isWildcardDNS1123Subdomain(host))], wildcard: true };
  return { errs: [...errs, ...each(p, host, isDNS1123Subdomain(host))], wildcard: false };
}

function validateIngress(obj: Ingress): FieldError[] {
  const errs: FieldError[] = [];
  const spec = fieldsOf(obj.spec);
  const rules = arr(spec.rules);
  if (rules.length === 0 && spec.defaultBackend == null) errs.push(invalid('spec', rules, 'either `defaultBackend` or `rules` must be specified'));
  if (spec.defaultBackend != null) errs.push(...validateBackend(spec.defaultBackend, 'spec.defaultBackend'));
  rules.forEach((rule, i) => {
    const p = `spec.rules[${i}]`;
    if (nonEmpty(rule?.host)) errs.push(...validateHost(rule.host, `${p}.host`).errs);
    if (isObj(rule?.http)) {
      const paths = arr(rule.http.paths);
      if (paths.length === 0) errs.push(required(`${p}.http.paths`));
      paths.forEach((path, j) => errs.push(...validatePath(path, `${p}.http.paths[${j}]`)));
    }
  });
  arr(spec.tls).forEach((tls, i) => {
    arr(tls?.hosts).forEach((h, j) => {
      const f = `spec.tls[${i}].hosts[${j}]`;
      const host = str(h);
      errs.push(...each(f, host, host.includes('*') ? isWildcardDNS1123Subdomain(host) : isDNS1123Subdomain(host)));
    });
    if (nonEmpty(tls?.secretName)) errs.push(...each(`spec.tls[${i}].secretName`, tls.secretName, isDNS1123Subdomain(tls.secretName)));
  });
  if (spec.ingressClassName !== undefined && spec.ingressClassName !== null) {
    errs.push(...each('spec.ingressClassName', spec.ingressClassName, isDNS1123Subdomain(str(spec.ingressClassName))));
  }
  return errs;
}

function validateLoadBalancer(obj: Ingress): FieldError[] {
  const errs: FieldError[] = [];
  arr(obj.status?.loadBalancer?.ingress).forEach((ing, i) => {
    const p = `status.loadBalancer.ingress[${i}]`;
    if (nonEmpty(ing?.ip)) {
      if (!parseIP(ing.ip)) errs.push(invalid(`${p}.ip`, ing.ip, 'must be a valid IP address'));
    }
    if (nonEmpty(ing?.hostname)) {
      errs.push(...each(`${p}.hostname`, ing.hostname, isDNS1123Subdomain(ing.hostname)));
      if (parseIP(ing.hostname)) errs.push(invalid(`${p}.hostname`, ing.hostname, 'must be a DNS name, not an IP address'));
    }
  });
  return errs;
}

/** kubectl's Hosts cell: the first three rule hosts, `*` when none names one. */
function formatHosts(rules: networking.IngressRule[]): string {
  const list: string[] = [];
  let more = false;
  for (const r of rules) {
    if (list.length === 3) more = true;
    if (!more && nonEmpty(r?.host)) list.push(r.host);
  }
  if (list.length === 0) return '*';
  return more ? `${list.join(',')} + ${rules.length - 3} more...` : list.join(',');
}

function formatAddress(obj: Ingress, wide: boolean): string {
  const set = new Set<string>();
  for (const ing of arr(obj.status?.loadBalancer?.ingress)) {
    if (nonEmpty(ing?.ip)) set.add(ing.ip);
    else if (nonEmpty(ing?.hostname)) set.add(ing.hostname);
  }
  const r = [...set].sort().join(',');
  return !wide && r.length > 16 ? `${r.slice(0, 13)}...` : r;
}

export const ingressStrategy: ResourceStrategy<Ingress> = {
  validate: validateIngress,
  validateStatus(obj) {
    return validateLoadBalancer(obj);
  },
  columns: [
    NAME_COLUMN,
    column('Class', 'string', 'The name of the IngressClass resource that should be used for additional configuration'),
    column('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule'),
    column('Address', 'string', 'Address is a list containing ingress points for the load-balancer'),
    column('Ports', 'string', 'Ports of TLS configurations that open'),
    AGE_COLUMN,
  ],
  row(obj, now) {
    const spec = fieldsOf(obj.spec);
    return [
      obj.metadata.name ?? '',
      str(spec.ingressClassName) || (spec.ingressClassName === '' ? '' : '<none>'),
      formatHosts(arr(spec.rules)),
      formatAddress(obj, false),
      arr(spec.tls).length ? '80, 443' : '80',
      age(obj, now),
    ];
  },
};

/** Create-only check of the API server's Ingress validation: the annotation and the field together. */
export function validateIngressCreate(obj: Ingress): FieldError[] {
  const ann = obj.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (obj.spec?.ingressClassName != null && ann !== undefined) {
    return [invalid(`annotations.${LEGACY_CLASS_ANNOTATION}`, ann, 'can not be set when the class field is also set')];
  }
  return [];
}

function validateDomainPrefixedPath(p: string, v: string): FieldError[] {
  if (v.length === 0) return [required(p)];
  const slash = v.indexOf('/');
  if (slash <= 0 || slash === v.length - 1) return [invalid(p, v, 'must be a domain-prefixed path (such as "acme.io/foo")')];
  const host = v.slice(0, slash);
  const path = v.slice(slash + 1);
  const errs = each(p, host, isDNS1123Subdomain(host));
  if (!httpPathRe.test(path)) errs.push(invalid(p, path, regexError('must be a valid path', httpPathFmt)));
  return errs;
}

function validateIngressClass(obj: IngressClass): FieldError[] {
  const spec = fieldsOf(obj.spec);
  const errs: FieldError[] = [];
  const controller = str(spec.controller);
  if (controller.length > MAX_CONTROLLER_LEN) errs.push(tooLong('spec.controller', MAX_CONTROLLER_LEN));
  errs.push(...validateDomainPrefixedPath('spec.controller', controller));
  const params = spec.parameters;
  if (params != null) {
    errs.push(...validateTypedRef(params, 'spec.parameters'));
    const scope = params?.scope;
    if (scope === undefined || scope === null) errs.push(required('spec.parameters.scope'));
    else if (scope !== 'Cluster' && scope !== 'Namespace') errs.push(notSupported('spec.parameters.scope', scope, ['Cluster', 'Namespace']));
    else if (scope === 'Namespace') {
      if (params.namespace == null) errs.push(required('spec.parameters.namespace', "`parameters.scope` is set to 'Namespace'"));
      else errs.push(...each('spec.parameters.namespace', params.namespace, isDNS1123Label(str(params.namespace))));
    } else if (params.namespace != null) errs.push(forbidden('spec.parameters.namespace', "`parameters.scope` is set to 'Cluster'"));
  }
  return errs;
}

export const ingressClassStrategy: ResourceStrategy<IngressClass> = {
  defaults(obj) {
    const params = obj.spec?.parameters;
    if (isObj(params) && (params.scope === undefined || params.scope === null)) params.scope = 'Cluster';
  },
  validate: validateIngressClass,
  validateUpdate(obj, old) {
    return validateImmutable('spec.controller', str(obj.spec?.controller), str(old.spec?.controller));
  },
  columns: [
    NAME_COLUMN,
    column('Controller', 'string', 'Controller that is responsible for handling this class'),
    column('Parameters', 'string', 'A reference to a resource with additional parameters'),
    AGE_COLUMN,
  ],
  row(obj, now) {
    const p = obj.spec?.parameters;
    const params = isObj(p) ? `${str(p.kind)}${p.apiGroup != null ? `.${str(p.apiGroup)}` : ''}/${str(p.name)}` : '<none>';
    return [obj.metadata.name ?? '', str(obj.spec?.controller), params, age(obj, now)];
  },
};

/** The DefaultIngressClass admission: a new Ingress that names no class (neither field nor legacy
 *  annotation) gets the class marked default; with several, the newest (then the first by name), as
 *  Kubernetes picks since 1.28. */
export function defaultIngressClass(ingress: Incomplete<Ingress>, classes: KObject[]): void {
  if (ingress.spec?.ingressClassName != null) return;
  if (ingress.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION] !== undefined) return;
  const defaults = classes.filter((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  if (!defaults.length) return;
  defaults.sort(
    (a, b) =>
      String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')) ||
      String(a.metadata.name).localeCompare(String(b.metadata.name)),
  );
  if (!isObj(ingress.spec)) ingress.spec = {};
  ingress.spec.ingressClassName = defaults[0].metadata.name;
}
