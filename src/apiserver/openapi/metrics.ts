// The OpenAPI definitions of metrics.k8s.io/v1beta1 (NodeMetrics, PodMetrics and their lists): the
// kubernetes-types package the other definitions come from has no metrics types, so their fields
// (k8s.io/metrics v1beta1) are written out here once.
import type { Schema } from './generate.js';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const PKG = 'io.k8s.metrics.pkg.apis.metrics.v1beta1';
const typeMeta = {
  apiVersion: { type: 'string', description: 'The versioned schema of this representation of an object.' },
  kind: { type: 'string', description: 'The REST resource this object represents.' },
};
const usage: Schema = {
  type: 'object',
  additionalProperties: { $ref: 'io.k8s.apimachinery.pkg.api.resource.Quantity' },
  description: 'The memory (working set) and CPU (rate over the window) in use.',
};
const gvk = (kind: string) => [{ group: 'metrics.k8s.io', version: 'v1beta1', kind }];
const sample = {
  timestamp: { $ref: `${META}.Time`, description: 'The end of the window the usage was measured over.' },
  window: { type: 'string', description: 'The length of the window the usage was measured over (a Go duration).' },
};

export const METRICS_DEFINITIONS: Record<string, Schema> = {
  [`${PKG}.ContainerMetrics`]: {
    type: 'object',
    description: 'The resource usage of one container.',
    required: ['name', 'usage'],
    properties: { name: { type: 'string', description: 'The container name, as in the pod spec.' }, usage },
  },
  [`${PKG}.NodeMetrics`]: {
    type: 'object',
    description: 'The resource usage of a node.',
    required: ['timestamp', 'window', 'usage'],
    properties: { ...typeMeta, metadata: { $ref: `${META}.ObjectMeta` }, ...sample, usage },
    'x-kubernetes-group-version-kind': gvk('NodeMetrics'),
  },
  [`${PKG}.NodeMetricsList`]: {
    type: 'object',
    description: 'A list of NodeMetrics.',
    required: ['items'],
    properties: { ...typeMeta, metadata: { $ref: `${META}.ListMeta` }, items: { type: 'array', items: { $ref: `${PKG}.NodeMetrics` } } },
    'x-kubernetes-group-version-kind': gvk('NodeMetricsList'),
  },
  [`${PKG}.PodMetrics`]: {
    type: 'object',
    description: 'The resource usage of a pod, by container.',
    required: ['timestamp', 'window', 'containers'],
    properties: {
      ...typeMeta,
      metadata: { $ref: `${META}.ObjectMeta` },
      ...sample,
      containers: { type: 'array', items: { $ref: `${PKG}.ContainerMetrics` }, description: 'The usage of each container of the pod.' },
    },
    'x-kubernetes-group-version-kind': gvk('PodMetrics'),
  },
  [`${PKG}.PodMetricsList`]: {
    type: 'object',
    description: 'A list of PodMetrics.',
    required: ['items'],
    properties: { ...typeMeta, metadata: { $ref: `${META}.ListMeta` }, items: { type: 'array', items: { $ref: `${PKG}.PodMetrics` } } },
    'x-kubernetes-group-version-kind': gvk('PodMetricsList'),
  },
};
