// Records core/v1 Events about an object, folding repeats into one Event with a count, as Kubernetes'
// event recorder does, so `kubectl describe` shows what happened and how often.
import { randomBytes } from 'node:crypto';
import { EVENTS } from '../api/kinds.js';
import { findResourceByKind, groupVersion } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import type { Client } from './types.js';
import { now } from '../util/time.js';

/** How many distinct (object, reason, message) series are remembered for folding. */
const MAX_SERIES = 10_000;

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private seen = new Map<string, { name: string; count: number; ns: string }>();

  /** component: the reporting component (`kubelet`, `default-scheduler`); host: its node, if any. */
  constructor(
    private client: Client,
    private component: string,
    private host = '',
  ) {}

  async record(obj: KObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid}/${reason}/${message}`;
    const t = now();
    const prev = this.seen.get(key);
    try {
      if (prev) {
        prev.count++;
        await this.client.patch(EVENTS, prev.ns, prev.name, 'merge', { count: prev.count, lastTimestamp: t });
        return;
      }
      const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
      const r = findResourceByKind(obj.apiVersion ?? 'v1', obj.kind ?? '');
      await this.client.create(EVENTS, ns, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion ?? (r ? groupVersion(r) : 'v1'),
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
          resourceVersion: obj.metadata.resourceVersion,
        },
        reason,
        message,
        type,
        source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
        firstTimestamp: t,
        lastTimestamp: t,
        count: 1,
        reportingComponent: this.component,
        reportingInstance: this.host,
      });
      this.seen.set(key, { name, count: 1, ns });
      if (this.seen.size > MAX_SERIES) this.seen.delete(this.seen.keys().next().value!);
    } catch {
      // Events are best effort: a lost event never fails the work it describes.
      this.seen.delete(key);
    }
  }
}
