import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { decodeOpenAPIv2, encodeOpenAPIv2, gvkYaml, GVK_EXTENSION, OPENAPI_V2_CONTENT_TYPE, type OpenAPIv2Operation } from './openapi-v2.js';
import { ProtobufError } from '../../util/protowire.js';
import { kubectlBinary, sendJson, skipReason, startHarness } from '../../testing/kubectl-harness.js';

const OPS: OpenAPIv2Operation[] = [
  { path: '/api/v1/namespaces/{namespace}/pods/{name}', gvk: { group: '', version: 'v1', kind: 'Pod' }, namespaced: true },
  { path: '/api/v1/namespaces/{name}', gvk: { group: '', version: 'v1', kind: 'Namespace' }, namespaced: false },
  { path: '/apis/apps/v1/namespaces/{namespace}/deployments/{name}', gvk: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespaced: true },
  {
    path: '/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}',
    gvk: { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy' },
    namespaced: true,
  },
];

test('the document decodes back to what was encoded', () => {
  const buf = encodeOpenAPIv2(OPS, { title: 'k8ts', version: 'v1.32.0' });
  const doc = decodeOpenAPIv2(buf);
  assert.equal(doc.swagger, '2.0');
  assert.deepEqual(doc.info, { title: 'k8ts', version: 'v1.32.0' });
  assert.deepEqual(
    doc.paths.map((p) => p.name),
    OPS.map((o) => o.path),
  );
  for (const [i, p] of doc.paths.entries()) {
    const op = OPS[i];
    assert.deepEqual(
      p.parameters.map((x) => x.name),
      op.namespaced ? ['namespace', 'name'] : ['name'],
    );
    assert.ok(p.parameters.every((x) => x.in === 'path' && x.required && x.type === 'string'));
    assert.ok(p.patch);
    assert.deepEqual(p.patch.parameters, [{ name: 'fieldValidation', in: 'query', type: 'string', required: false }]);
    assert.deepEqual(p.patch.responses, [{ code: '200', description: 'OK' }]);
    assert.equal(p.patch.vendorExtensions.length, 1);
    assert.equal(p.patch.vendorExtensions[0].name, GVK_EXTENSION);
    assert.deepEqual(parseYaml(p.patch.vendorExtensions[0].yaml), op.gvk);
  }
  assert.ok(buf.length < 2048, `${buf.length} bytes`);
});

test('the GVK extension is YAML with sorted keys and a quoted empty group', () => {
  assert.equal(gvkYaml({ group: '', version: 'v1', kind: 'Pod' }), 'group: ""\nkind: Pod\nversion: v1\n');
  assert.equal(gvkYaml({ group: 'apps', version: 'v1', kind: 'Deployment' }), 'group: apps\nkind: Deployment\nversion: v1\n');
  assert.equal(parseYaml(gvkYaml({ group: 'true', version: '1', kind: 'No' })).group, 'true');
  assert.deepEqual(parseYaml(gvkYaml({ group: 'true', version: '1', kind: 'No' })), { group: 'true', kind: 'No', version: '1' });
});

test('inconsistent operations are refused', () => {
  assert.throws(() => encodeOpenAPIv2([OPS[0], OPS[0]]), /listed twice/);
  assert.throws(() => encodeOpenAPIv2([{ ...OPS[0], namespaced: false }]), /has \{namespace\}/);
  assert.throws(() => encodeOpenAPIv2([{ ...OPS[1], namespaced: true }]), /lacks \{namespace\}/);
});

test('decoding garbage only throws ProtobufError (property)', () => {
  const good = encodeOpenAPIv2(OPS);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (junk, at) => {
      for (const b of [junk, Buffer.concat([good.subarray(0, at % good.length), junk])]) {
        try {
          decodeOpenAPIv2(b);
        } catch (e) {
          assert.ok(e instanceof ProtobufError, String(e));
        }
      }
    }),
    { numRuns: 1000 },
  );
});

const POD_YAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
`;

for (const version of ['1.27', '1.28']) {
  const bin = kubectlBinary(version);
  test(`kubectl ${version} apply validates with the served /openapi/v2 document`, { skip: skipReason(version) }, async (t) => {
    let serveDoc = true;
    const doc = encodeOpenAPIv2(OPS, { title: 'k8ts', version: 'v1.32.0' });
    const h = await startHarness((req, res) => {
      const path = req.url.split('?')[0];
      if (req.method === 'GET' && path === '/openapi/v2' && serveDoc) {
        res.writeHead(200, { 'Content-Type': OPENAPI_V2_CONTENT_TYPE, 'Content-Length': doc.length });
        res.end(doc);
        return true;
      }
      if (req.method === 'POST' && path === '/api/v1/namespaces/default/pods') {
        const obj = JSON.parse(req.body.toString('utf8'));
        sendJson(res, 201, { ...obj, metadata: { ...obj.metadata, namespace: 'default', uid: 'u-1', resourceVersion: '1' } });
        return true;
      }
      return false; // GET …/pods/web and everything else: 404
    });
    try {
      writeFileSync(join(h.dir, 'pod.yaml'), POD_YAML);
      await t.test('with the document: created, and validation left to the server', async () => {
        const before = h.requests.length;
        const r = await h.kubectl(bin!, ['apply', '-f', join(h.dir, 'pod.yaml')]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), 'pod/web created');
        const reqs = h.requests.slice(before);
        assert.ok(
          reqs.some((q) => q.method === 'GET' && q.url.startsWith('/openapi/v2')),
          'asked /openapi/v2',
        );
        const post = reqs.find((q) => q.method === 'POST');
        assert.ok(post, 'sent the POST');
        assert.match(post.url, /[?&]fieldValidation=Strict(&|$)/);
      });
      await t.test('control: without the document the same apply fails', async () => {
        serveDoc = false;
        const before = h.requests.length;
        const r = await h.kubectl(bin!, ['apply', '-f', join(h.dir, 'pod.yaml')]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /the server could not find the requested resource/);
        assert.ok(!h.requests.slice(before).some((q) => q.method === 'POST'), 'no POST without validation');
      });
    } finally {
      await h.close();
    }
  });
}
