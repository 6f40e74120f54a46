// The OpenAPI definitions: every served kind is described down every path with no dangling reference,
// the patch extensions kubectl's client-side apply reads agree with what the server's strategic merge
// patch merges by (patch/schema.ts), and dropEmpty leaves out exactly what Go's omitempty leaves out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RESOURCES, groupVersion, groups } from '../../api/resources.js';
import { openapiV3 } from '../openapi.js';
import { type SchemaNode, schemaFor } from '../patch/schema.js';
import { type Schema, definitionForKind, definitions, dropEmpty } from './schemas.js';

test('every served kind and list kind has a definition with its group-version-kind', () => {
  for (const r of RESOURCES) {
    // Create-only kinds (the reviews) have no list kind, upstream neither.
    for (const kind of r.verbs.includes('list') ? [r.kind, r.listKind] : [r.kind]) {
      const name = definitionForKind(r.group, r.version, kind);
      assert.ok(name, `${groupVersion(r)} ${kind}`);
      assert.deepEqual(definitions()[name!]['x-kubernetes-group-version-kind'], [{ group: r.group, kind, version: r.version }]);
    }
  }
});

test('each v3 document is closed: every $ref resolves inside it, every field has a type or a reference', () => {
  const root = openapiV3();
  for (const g of groups()) {
    for (const v of g.versions) {
      const path = g.group ? `apis/${g.group}/${v}` : `api/${v}`;
      const doc = JSON.parse(root.docs.get(path)!) as { components: { schemas: Record<string, Schema> } };
      const schemas = doc.components.schemas;
      const check = (s: Schema, where: string) => {
        if (s.$ref) assert.ok(schemas[s.$ref.replace('#/components/schemas/', '')], `${path}: ${where} → ${s.$ref}`);
        for (const x of s.allOf ?? []) check(x, where);
        if (s.items) check(s.items, `${where}[]`);
        if (s.additionalProperties) check(s.additionalProperties, `${where}{}`);
        if (!s.$ref && !s.allOf) assert.ok(s.type, `${path}: ${where} has no type`);
        for (const [k, p] of Object.entries(s.properties ?? {})) check(p, `${where}.${k}`);
      };
      for (const [name, s] of Object.entries(schemas)) check(s, name);
      for (const r of RESOURCES.filter((x) => x.group === g.group && x.version === v)) {
        assert.ok(schemas[definitionForKind(r.group, r.version, r.kind)!], `${path} carries ${r.kind}`);
      }
    }
  }
  const pod = definitions()['io.k8s.api.core.v1.Container'].properties!.ports;
  assert.equal(pod['x-kubernetes-patch-merge-key'], 'containerPort');
  assert.deepEqual(pod['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
  assert.match(pod.description!, /List of ports to expose from the container/);
});

/** Dotted path → `strategy[:key]` for every field the schema gives a patch strategy, descending into
 *  list elements only where the list merges (a replaced list's inner keys never apply). */
function fromOpenAPI(def: string, prefix: string, out: Map<string, string>, depth = 0): void {
  if (depth > 12) return;
  const s = definitions()[def];
  for (const [field, p] of Object.entries(s?.properties ?? {})) {
    const path = prefix ? `${prefix}.${field}` : field;
    const strategy = p['x-kubernetes-patch-strategy'] as string | undefined;
    if (strategy) out.set(path, `${strategy.split(',').sort().join(',')}${p['x-kubernetes-patch-merge-key'] ? `:${p['x-kubernetes-patch-merge-key']}` : ''}`);
    const inner = p.type === 'array' ? p.items : p.type === 'object' ? p.additionalProperties : p;
    if (!inner?.$ref) continue;
    if (p.type === 'array' && !strategy?.includes('merge')) continue;
    fromOpenAPI(inner.$ref, path, out, depth + 1);
  }
}

function fromPatchSchema(node: SchemaNode, prefix: string, out: Map<string, string>): void {
  for (const [field, child] of node.children) {
    const path = prefix ? `${prefix}.${field}` : field;
    if (child.meta) {
      const parts = [...(child.meta.merge ? ['merge'] : []), ...(child.meta.retainKeys ? ['retainKeys'] : [])];
      out.set(path, `${parts.sort().join(',')}${child.meta.mergeKey ? `:${child.meta.mergeKey}` : ''}`);
    }
    fromPatchSchema(child, path, out);
  }
}

test('the patch extensions in OpenAPI are what the strategic merge patch merges by, kind by kind', () => {
  for (const r of RESOURCES) {
    // Read-only kinds (metrics.k8s.io) are never patched.
    if (!r.verbs.includes('patch') && !r.verbs.includes('create')) continue;
    const api = new Map<string, string>();
    fromOpenAPI(definitionForKind(r.group, r.version, r.kind)!, '', api);
    const ours = new Map<string, string>();
    const node = schemaFor(r.kind, groupVersion(r));
    if (node) fromPatchSchema(node, '', ours);
    // Paths under templates nested in volumes (ephemeral PVC templates' metadata) are beyond what
    // patch/schema.ts spells out; they must still agree wherever both speak.
    for (const [path, meta] of ours) assert.equal(api.get(path), meta, `${r.kind} ${path}: OpenAPI says ${api.get(path)}, patch/schema.ts ${meta}`);
    for (const [path, meta] of api) {
      if (path.includes('.ephemeral.volumeClaimTemplate.')) continue;
      assert.equal(ours.get(path), meta, `${r.kind} ${path}: OpenAPI says ${meta}, patch/schema.ts ${ours.get(path)}`);
    }
  }
});

test('dropEmpty: optional empty lists and maps go at any depth, required and never-omitted ones stay', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', annotations: {}, labels: {}, finalizers: [], ownerReferences: [], managedFields: [] },
    spec: { containers: [{ name: 'c', image: 'i', env: [], ports: [], command: [], resources: {} }], volumes: [], nodeSelector: {} },
    status: { conditions: [], containerStatuses: [] },
    unknownField: [],
  };
  dropEmpty('', 'v1', 'Pod', pod);
  assert.deepEqual(pod, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    // resources is a struct (Go never omits a struct): kept as {}.
    spec: { containers: [{ name: 'c', image: 'i', resources: {} }] },
    status: {},
    unknownField: [],
  });
  // PodSpec.containers is required (no omitempty): [] stays for validation to name.
  const bare = { spec: { containers: [] } };
  dropEmpty('', 'v1', 'Pod', bare);
  assert.deepEqual(bare, { spec: { containers: [] } });
  // EndpointSlice: endpoints is required, ports is optional but has no omitempty: both stay.
  const slice = { addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: {} }], ports: [], metadata: { labels: {} } };
  dropEmpty('discovery.k8s.io', 'v1', 'EndpointSlice', slice);
  assert.deepEqual(slice, { addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: {} }], ports: [], metadata: {} });
  const cm = { data: {}, binaryData: {}, metadata: { name: 'c' } };
  dropEmpty('', 'v1', 'ConfigMap', cm);
  assert.deepEqual(cm, { metadata: { name: 'c' } });
  // Deep: a deployment's pod template.
  const dep = { spec: { template: { metadata: { labels: { a: 'b' }, annotations: {} }, spec: { containers: [{ name: 'c', args: [] }], tolerations: [] } } } };
  dropEmpty('apps', 'v1', 'Deployment', dep);
  assert.deepEqual(dep, { spec: { template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c' }] } } } });
});
