// Subresources with their own shapes: scale (autoscaling/v1 Scale over a workload's replicas), pod
// binding (the scheduler's write), and the node-served pod streams (log, exec, attach, portforward).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceDef } from '../api/resources.js';
import type { KObject, Pod } from '../api/types.js';
import { PODS } from '../api/kinds.js';
import { isObj } from '../api/narrow.js';
import { errors, successStatus } from '../api/status.js';
import { MAX_BODY_BYTES, mediaType, readBody, sendJson } from './http.js';
import { applyJsonPatch } from './patch/jsonpatch.js';
import { applyMergePatch } from './patch/mergepatch.js';
import { applyStrategicMergePatch } from './patch/strategic.js';
import { labelSelectorFromSpec, labelSelectorToString } from './selectors.js';
import type { Registry } from './registry.js';
import type { NodeProxy } from './nodeproxy.js';
import { agentPath } from './nodeproxy.js';

interface ItemTarget {
  r: ResourceDef;
  ns?: string;
  name: string;
}

function toScale(obj: KObject, r: ResourceDef): KObject {
  let selector = '';
  try {
    // A ReplicationController's selector is a plain label map (core/v1); the others are LabelSelectors.
    const sel = isObj(obj.spec) ? obj.spec.selector : undefined;
    const spec = r.kind === 'ReplicationController' && sel ? { matchLabels: sel } : sel;
    selector = spec ? labelSelectorToString(labelSelectorFromSpec(spec)) : '';
  } catch {
    selector = '';
  }
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: (isObj(obj.spec) ? obj.spec.replicas : undefined) ?? 0 },
    status: { replicas: (isObj(obj.status) ? obj.status.replicas : undefined) ?? 0, selector },
  };
}

function checkReplicas(t: ItemTarget, scale: KObject): number {
  const n = isObj(scale?.spec) ? scale.spec.replicas : undefined;
  if (n === undefined) return 0;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) {
    throw errors.invalid('Scale', 'autoscaling', t.name, [
      { type: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(n)}: must be greater than or equal to 0` },
    ]);
  }
  return n;
}

/** What these handlers need from the API server; an interface here, so this module and server.ts do not
 *  import each other. */
export interface SubresourceHost {
  readonly registry: Registry;
  nodeProxy?: NodeProxy;
  readObject(req: IncomingMessage, r: ResourceDef | undefined): Promise<KObject>;
}

export async function handleScale(
  api: SubresourceHost,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  t: ItemTarget,
  q: URLSearchParams,
): Promise<void> {
  const reg = api.registry;
  if (method === 'GET') return sendJson(res, 200, toScale(await reg.get(t.r, t.ns, t.name), t.r));
  if (method !== 'PUT' && method !== 'PATCH') throw errors.methodNotAllowed(method, `${t.r.plural}/scale`);
  const type = mediaType(req.headers['content-type']);
  const raw = await readBody(req, MAX_BODY_BYTES);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw errors.badRequest(`couldn't decode the request body as JSON: ${(e as Error).message}`);
  }
  const out = await reg.guaranteedUpdate(
    t.r,
    t.ns,
    t.name,
    (cur) => {
      const scale = toScale(cur, t.r);
      let next: KObject;
      if (method === 'PUT') {
        next = doc as KObject;
        const rv = next?.metadata?.resourceVersion;
        if (rv && rv !== cur.metadata.resourceVersion) throw errors.conflict(t.r.plural, t.r.group, t.name);
      } else if (type === 'application/json-patch+json') next = applyJsonPatch(scale, doc) as KObject;
      else if (type === 'application/merge-patch+json') next = applyMergePatch(scale, doc) as KObject;
      else if (type === 'application/strategic-merge-patch+json') next = applyStrategicMergePatch(scale, doc, 'Scale', 'autoscaling/v1') as KObject;
      else throw errors.unsupportedMediaType(type);
      const replicas = checkReplicas(t, next);
      return { ...cur, spec: { ...(isObj(cur.spec) ? cur.spec : {}), replicas } };
    },
    undefined,
    { dryRun: q.has('dryRun') },
  );
  sendJson(res, 200, toScale(out, t.r));
}

/** POST pods/NAME/binding: assign a pod to a node, once. */
export async function handleBinding(api: SubresourceHost, req: IncomingMessage, res: ServerResponse, method: string, t: ItemTarget): Promise<void> {
  if (method !== 'POST') throw errors.methodNotAllowed(method, 'pods/binding');
  const binding = await api.readObject(req, undefined);
  const node = (binding as { target?: { name?: unknown } }).target?.name;
  if (typeof node !== 'string' || !node) {
    throw errors.invalid('Binding', '', t.name, [{ type: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
  }
  await api.registry.bind(t.ns!, t.name, node);
  // The binding changes status too; that happens through the same write.
  sendJson(res, 201, successStatus());
}

export async function handlePodSubresource(
  api: SubresourceHost,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  t: ItemTarget,
  q: URLSearchParams,
): Promise<void> {
  const sub = new URL(req.url ?? '/', 'https://k8ts').pathname.split('/').filter(Boolean).pop()!;
  const { pod, container } = await podForStream(api, t, sub, q);
  if (sub !== 'log') {
    throw errors.badRequest(`${sub} needs a connection upgrade (WebSocket or SPDY/3.1), as kubectl sends; got a plain ${method}`);
  }
  if (!api.nodeProxy) throw errors.unavailable('this API server has no node proxy configured');
  await api.nodeProxy.forward(req, res, pod, agentPath(sub, pod, container, new URL(req.url ?? '/', 'https://k8ts').search));
}

/** The pod and container a stream is for, with the checks Kubernetes makes before contacting the node. */
export async function podForStream(api: SubresourceHost, t: ItemTarget, sub: string, q: URLSearchParams): Promise<{ pod: Pod; container?: string }> {
  const pod = await api.registry.get(PODS, t.ns, t.name);
  const all: { name: string }[] = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
  const container = sub === 'portforward' ? undefined : (q.get('container') ?? pod.spec?.containers?.[0]?.name);
  if (container && !all.some((c) => c.name === container)) throw errors.badRequest(`container ${container} is not valid for pod ${t.name}`);
  if (!pod.spec?.nodeName) {
    if (sub === 'log') throw errors.badRequest(`container "${container}" in pod "${t.name}" is waiting to start: the pod is not scheduled to a node yet`);
    throw errors.badRequest(`pod ${t.name} is not scheduled to a node yet: ${sub} is served by the node's agent once the pod runs there`);
  }
  if (sub === 'log' && container) {
    const st = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])].find(
      (c) => c.name === container,
    );
    const waiting = st?.state?.waiting;
    if ((!st || waiting) && !st?.lastState?.terminated) {
      throw errors.badRequest(`container "${container}" in pod "${t.name}" is waiting to start: ${waiting?.reason ?? 'ContainerCreating'}`);
    }
  }
  if (sub === 'exec' || sub === 'attach') {
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      throw errors.badRequest(`cannot ${sub} into a container in a completed pod; current phase is ${phase}`);
    }
  }
  return { pod, container };
}
