// The root-CA publisher: every live namespace has a `kube-root-ca.crt` ConfigMap whose `ca.crt` is the
// cluster CA, so pods verify the API server through the projected volume the ServiceAccount admission
// mounts. Changed or deleted copies are put back.
import { CONFIGMAPS, NAMESPACES } from '../api/kinds.js';
import type { ConfigMap, Namespace } from '../api/types.js';
import type { SharedInformer } from '../client/informer.js';
import { errorCode } from '../client/types.js';
import type { QueueMetrics } from '../client/workqueuemetrics.js';
import { WorkQueue } from '../client/workqueue.js';
import { type Controller, type ControllerContext, Registrations, queueMetrics } from './context.js';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

export class RootCaPublisher implements Controller {
  private namespaces: SharedInformer<Namespace>;
  private configMaps: SharedInformer<ConfigMap>;
  private queue: WorkQueue;
  private regs = new Registrations();

  private readonly qm: QueueMetrics | undefined;

  constructor(
    private ctx: ControllerContext,
    private caPem: string,
  ) {
    this.qm = queueMetrics(ctx, 'root_ca_cert_publisher');
    this.queue = new WorkQueue((ns) => this.reconcile(ns), {
      workers: 2,
      metrics: this.qm,
      onError: (key, err) => console.error(`root-ca publisher: ${key}:`, err instanceof Error ? err.message : err),
    });
    this.namespaces = ctx.informers.informerFor(NAMESPACES);
    this.configMaps = ctx.informers.informerFor(CONFIGMAPS);
  }

  async start(): Promise<void> {
    await Promise.all([this.namespaces.waitForSync(), this.configMaps.waitForSync()]);
    const ns = (n: Namespace) => this.queue.add(n.metadata.name!);
    const cm = (c: ConfigMap) => c.metadata.name === ROOT_CA_CONFIGMAP && this.queue.add(c.metadata.namespace!);
    this.regs.add(this.namespaces.addEventHandler({ onAdd: ns, onUpdate: ns }));
    this.regs.add(this.configMaps.addEventHandler({ onUpdate: cm, onDelete: cm }));
    this.queue.start();
  }

  stop(): void {
    this.regs.removeAll();
    this.queue.stop();
  }

  private async reconcile(name: string): Promise<void> {
    const ns = this.namespaces.lister.get(undefined, name);
    if (!ns || ns.metadata.deletionTimestamp) return;
    const cur = this.configMaps.lister.get(name, ROOT_CA_CONFIGMAP);
    try {
      if (!cur) {
        await this.ctx.client.create(CONFIGMAPS, name, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: ROOT_CA_CONFIGMAP, annotations: { 'kubernetes.io/description': DESCRIPTION } },
          data: { 'ca.crt': this.caPem },
        });
        return;
      }
      const data = cur.data ?? {};
      if (data['ca.crt'] === this.caPem && Object.keys(data).length === 1 && !cur.binaryData) return;
      // Written with the resourceVersion read: a newer copy costs a conflict and a retry, never a lost write.
      await this.ctx.client.update(CONFIGMAPS, name, {
        ...cur,
        metadata: { ...cur.metadata, annotations: { ...cur.metadata.annotations, 'kubernetes.io/description': DESCRIPTION } },
        data: { 'ca.crt': this.caPem },
        binaryData: undefined,
      });
    } catch (e) {
      // 409: it appeared or changed meanwhile (the informer brings it back); 403: the namespace is terminating.
      const code = errorCode(e);
      if (code === 409 || code === 403 || code === 404) return;
      throw e;
    }
  }
}
