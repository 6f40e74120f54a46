// Container environment as the kubelet resolves it: plain values, and the downward API's fieldRef
// (metadata.name/namespace/uid, labels['k'], annotations['k'], spec.nodeName, spec.serviceAccountName,
// status.podIP, status.hostIP) — how an Indexed Job's pod reads JOB_COMPLETION_INDEX.
import type { Container, Pod } from '../api/types.js';

/** The value of a fieldRef path for this pod, or undefined when the path is not one the kubelet serves. */
export function fieldRefValue(pod: Pod, path: string): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata.name ?? '';
    case 'metadata.namespace': return pod.metadata.namespace ?? '';
    case 'metadata.uid': return pod.metadata.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP': return pod.status?.podIP ?? '';
    case 'status.hostIP': return pod.status?.hostIP ?? '';
    default: return undefined;
  }
}

/** name=value pairs for the container: values as given, fieldRefs resolved; other sources (secrets,
 *  config maps, resources) are not served yet and are left out. */
export function resolveEnv(pod: Pod, c: Container): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const e of c.env ?? []) {
    if (typeof e?.name !== 'string') continue;
    if (e.valueFrom?.fieldRef) {
      const v = fieldRefValue(pod, e.valueFrom.fieldRef.fieldPath);
      if (v !== undefined) out.push({ name: e.name, value: v });
    } else if (!e.valueFrom) {
      out.push({ name: e.name, value: String(e.value ?? '') });
    }
  }
  return out;
}
