// OpenAPI documents: v3 per group-version with every served kind's schema down every path (what
// `kubectl explain` walks and what kubectl's client-side apply reads the patch extensions from; the
// definitions come from kubernetes-types, see openapi/), each kind's PUT and PATCH declaring the
// fieldValidation parameter (so apply validates on the server); and the v2 protobuf for kubectl
// 1.27/1.28, paths only: those versions read it for validation and fall back to their compiled-in
// types for patch metadata, which agree with ours.
import { createHash } from 'node:crypto';
import { RESOURCES, groups, type ResourceDef } from '../api/resources.js';
import { encodeOpenAPIv2 } from './protobuf/openapi-v2.js';
import { type Schema, closure, definitionForKind, definitions } from './openapi/schemas.js';

function itemPath(r: ResourceDef): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}/{name}` : `${base}/${r.plural}/{name}`;
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const QUERY = (name: string, description: string) => ({ name, in: 'query', description, schema: { type: 'string' }, uniqueItems: true });

function operation(r: ResourceDef, verb: string) {
  const params = [
    QUERY('dryRun', 'When present, indicates that modifications should not be persisted.'),
    QUERY('fieldManager', 'A name associated with the actor or entity that is making these changes.'),
    QUERY('fieldValidation', 'Strict, Warn or Ignore: how the server treats unknown and duplicate fields.'),
  ];
  if (verb === 'patch') params.push({ ...QUERY('force', 'Force is going to "force" Apply requests.'), schema: { type: 'boolean' } as never });
  const kindRef = { $ref: `${REF}${definitionForKind(r.group, r.version, r.kind)}` };
  // The body types a PATCH consumes: kubectl 1.29+ builds its client-side apply patch from this
  // document (with the patch extensions of the kind's schema) when strategic merge is among them.
  const patchBody = { $ref: `${REF}io.k8s.apimachinery.pkg.apis.meta.v1.Patch` };
  const content =
    verb === 'patch'
      ? Object.fromEntries(
          ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'].map((t) => [
            t,
            { schema: patchBody },
          ]),
        )
      : { 'application/json': { schema: kindRef }, 'application/yaml': { schema: kindRef } };
  return {
    operationId: `${verb}${r.kind}`,
    tags: [r.group || 'core'],
    parameters: params,
    requestBody: { content, required: true },
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': verb,
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  };
}

const REF = '#/components/schemas/';

/** A definition as OpenAPI v3 writes it: references as `$ref`, wrapped in `allOf` where the field has
 *  its own description (a sibling of `$ref` would be ignored), as upstream's v3 documents do. */
function toV3(s: Schema): Schema {
  if (s.$ref) {
    const { $ref, ...rest } = s;
    const ref = { $ref: `${REF}${$ref}` };
    return Object.keys(rest).length ? { allOf: [ref], ...rest } : ref;
  }
  const out: Schema = { ...s };
  if (s.items) out.items = toV3(s.items);
  if (s.additionalProperties) out.additionalProperties = toV3(s.additionalProperties);
  if (s.properties) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toV3(v)]));
  return out;
}

/** The schemas a group-version's document carries: its kinds, their lists, and all they refer to. */
function schemasFor(rs: ResourceDef[]): Record<string, Schema> {
  const roots: string[] = [];
  for (const r of rs) {
    for (const kind of [r.kind, r.listKind]) {
      const d = definitionForKind(r.group, r.version, kind);
      if (d) roots.push(d);
    }
  }
  roots.push('io.k8s.apimachinery.pkg.apis.meta.v1.Patch');
  const defs = definitions();
  return Object.fromEntries(closure(roots).map((n) => [n, toV3(defs[n])]));
}

export function openapiV3Doc(group: string, version: string): unknown | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    paths[itemPath(r)] = {
      parameters: [
        { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
        ...(r.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }] : []),
      ],
      put: operation(r, 'put'),
      patch: operation(r, 'patch'),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0-k8ts' }, paths, components: { schemas: schemasFor(rs) } };
}

let v3Root: { body: unknown; docs: Map<string, string> } | undefined;

/** The v3 root (paths → serverRelativeURL with a content hash) and the documents it points at. */
export function openapiV3(): { body: unknown; docs: Map<string, string> } {
  if (v3Root) return v3Root;
  const docs = new Map<string, string>();
  const paths: Record<string, unknown> = {};
  for (const g of groups()) {
    for (const v of g.versions) {
      const json = JSON.stringify(openapiV3Doc(g.group, v));
      const p = gvPath(g.group, v);
      docs.set(p, json);
      const hash = createHash('sha512').update(json).digest('hex').slice(0, 32).toUpperCase();
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
    }
  }
  v3Root = { body: { paths }, docs };
  return v3Root;
}

let v2: Buffer | undefined;

export function openapiV2Protobuf(): Buffer {
  v2 ??= encodeOpenAPIv2(RESOURCES.map((r) => ({ path: itemPath(r), gvk: { group: r.group, version: r.version, kind: r.kind }, namespaced: r.namespaced })));
  return v2;
}

export const OPENAPI_V2_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';
