// A container's environment as the kubelet makes it: service links (docker-link style variables of the
// services in the pod's namespace, and the kubernetes service's always), then envFrom (prefix, invalid
// names skipped), then env (value with $(VAR) expansion, valueFrom configMapKeyRef, secretKeyRef,
// fieldRef, resourceFieldRef). A missing non-optional source is a CreateContainerConfigError naming it.
import type * as core from 'kubernetes-types/core/v1.js';
import type { Pod, Service } from '../api/types.js';
import { fieldRefValue, resourceFieldValue, type NodeFacts, type ObjectSource } from './volumes/sources.js';

/** The container cannot be configured now: its waiting reason is CreateContainerConfigError with this message. */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/** C_IDENTIFIER-ish check of envFrom keys, as the kubelet's (any printable ASCII but '=', not starting with a digit since 1.30 relaxed). */
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * $(VAR) expansion as the kubelet's third_party expansion package: `$(NAME)` becomes NAME's value when
 * NAME is defined (else stays as written), `$$` is an escaped `$`, and any other `$` is kept.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        // An unclosed reference is kept as written.
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const v = name ? lookup(name) : undefined;
      out += v ?? `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

/** The docker-link variables of one service (named NAME_SERVICE_HOST …, NAME the upper-cased name with _ for -). */
function serviceVars(svc: Service): [string, string][] {
  const ip = svc.spec?.clusterIP;
  if (!ip || ip === 'None') return [];
  const name = svc.metadata.name!.toUpperCase().replace(/-/g, '_');
  const ports = svc.spec?.ports ?? [];
  const out: [string, string][] = [[`${name}_SERVICE_HOST`, ip]];
  if (!ports.length) return out;
  out.push([`${name}_SERVICE_PORT`, String(ports[0].port)]);
  for (const p of ports) if (p.name) out.push([`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`, String(p.port)]);
  const first = ports[0];
  out.push([`${name}_PORT`, `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`]);
  for (const p of ports) {
    const proto = p.protocol ?? 'TCP';
    const pfx = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push([pfx, `${proto.toLowerCase()}://${ip}:${p.port}`], [`${pfx}_PROTO`, proto.toLowerCase()], [`${pfx}_PORT`, String(p.port)], [`${pfx}_ADDR`, ip]);
  }
  return out;
}

/**
 * The service link variables for a pod: the kubernetes service of `default` always (so in-cluster clients
 * find the API), and with enableServiceLinks (the default) every service of the pod's namespace, created
 * before or after, the pod's own namespace winning on a name clash.
 */
export function serviceLinkEnv(pod: Pod, services: Service[]): Map<string, string> {
  const links = pod.spec?.enableServiceLinks ?? true;
  const byName = new Map<string, Service>();
  for (const s of services) {
    const ns = s.metadata.namespace;
    if (ns === 'default' && s.metadata.name === 'kubernetes' && !byName.has('kubernetes')) byName.set('kubernetes', s);
    else if (links && ns === pod.metadata.namespace) byName.set(s.metadata.name!, s);
  }
  const out = new Map<string, string>();
  for (const name of [...byName.keys()].sort()) for (const [k, v] of serviceVars(byName.get(name)!)) out.set(k, v);
  return out;
}

export interface EnvContext {
  objects: ObjectSource;
  node: NodeFacts;
  services: Service[];
  podIP?: string;
  /** envFrom keys skipped for an invalid name: reported once as an event by the caller. */
  skipped?: (message: string) => void;
}

/** The container's environment in order (later names replace earlier ones, as the kubelet's map). */
export function containerEnv(pod: Pod, c: core.Container, ctx: EnvContext): { name: string; value: string }[] {
  const ns = pod.metadata.namespace!;
  const vars = new Map<string, string>();
  for (const [k, v] of serviceLinkEnv(pod, ctx.services)) vars.set(k, v);
  for (const src of c.envFrom ?? []) {
    const prefix = src.prefix ?? '';
    let data: Record<string, string> | undefined;
    if (src.configMapRef) {
      const cm = ctx.objects.configMap(ns, src.configMapRef.name ?? '');
      if (!cm) {
        if (src.configMapRef.optional) continue;
        throw new ContainerConfigError(`configmap "${src.configMapRef.name ?? ''}" not found`);
      }
      data = cm.data ?? {};
    } else if (src.secretRef) {
      const s = ctx.objects.secret(ns, src.secretRef.name ?? '');
      if (!s) {
        if (src.secretRef.optional) continue;
        throw new ContainerConfigError(`secret "${src.secretRef.name ?? ''}" not found`);
      }
      data = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    }
    const bad: string[] = [];
    for (const [k, v] of Object.entries(data ?? {})) {
      const name = prefix + k;
      if (!ENV_NAME.test(name)) bad.push(name);
      else vars.set(name, v);
    }
    if (bad.length) {
      const from = src.configMapRef ? `configMap ${ns}/${src.configMapRef.name}` : `secret ${ns}/${src.secretRef?.name}`;
      ctx.skipped?.(`Keys [${bad.sort().join(', ')}] from the EnvFrom ${from} were skipped since they are considered invalid environment variable names.`);
    }
  }
  for (const e of c.env ?? []) {
    const lookup = (n: string) => vars.get(n);
    if (e.valueFrom === undefined) {
      vars.set(e.name, expand(e.value ?? '', lookup));
      continue;
    }
    const vf = e.valueFrom;
    if (vf.configMapKeyRef) {
      const r = vf.configMapKeyRef;
      const cm = ctx.objects.configMap(ns, r.name ?? '');
      const v = cm?.data?.[r.key] ?? (cm?.binaryData?.[r.key] !== undefined ? Buffer.from(cm.binaryData[r.key], 'base64').toString('utf8') : undefined);
      if (v === undefined) {
        if (r.optional) continue;
        throw new ContainerConfigError(cm ? `couldn't find key ${r.key} in ConfigMap ${ns}/${r.name}` : `configmap "${r.name ?? ''}" not found`);
      }
      vars.set(e.name, v);
    } else if (vf.secretKeyRef) {
      const r = vf.secretKeyRef;
      const s = ctx.objects.secret(ns, r.name ?? '');
      const v = s?.data?.[r.key];
      if (v === undefined) {
        if (r.optional) continue;
        throw new ContainerConfigError(s ? `couldn't find key ${r.key} in Secret ${ns}/${r.name}` : `secret "${r.name ?? ''}" not found`);
      }
      vars.set(e.name, Buffer.from(v, 'base64').toString('utf8'));
    } else if (vf.fieldRef) {
      try {
        vars.set(e.name, fieldRefValue(pod, vf.fieldRef.fieldPath, ctx.node, ctx.podIP));
      } catch (err) {
        throw new ContainerConfigError(err instanceof Error ? err.message : String(err));
      }
    } else if (vf.resourceFieldRef) {
      try {
        vars.set(e.name, resourceFieldValue(pod, vf.resourceFieldRef, c.name, ctx.node));
      } catch (err) {
        throw new ContainerConfigError(err instanceof Error ? err.message : String(err));
      }
    }
  }
  return [...vars].map(([name, value]) => ({ name, value }));
}

/** command and args with $(VAR) expanded from the container's final environment. */
export function expandArgs(argv: string[] | undefined, env: { name: string; value: string }[]): string[] | undefined {
  if (!argv) return undefined;
  const m = new Map(env.map((e) => [e.name, e.value]));
  return argv.map((a) => expand(a, (n) => m.get(n)));
}
