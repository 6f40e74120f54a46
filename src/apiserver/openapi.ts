// OpenAPI documents, as far as kubectl needs them: v3 per group-version declaring each kind's PATCH
// with the fieldValidation parameter (so apply validates on the server), and the v2 protobuf for
// kubectl 1.27/1.28.
import { createHash } from 'node:crypto';
import { RESOURCES, groups, type ResourceDef } from '../api/resources.js';
import { encodeOpenAPIv2 } from './protobuf/openapi-v2.js';

function itemPath(r: ResourceDef): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}/{name}` : `${base}/${r.plural}/{name}`;
}

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const QUERY = (name: string, description: string) => ({ name, in: 'query', description, schema: { type: 'string' }, uniqueItems: true });

function operation(r: ResourceDef, verb: string) {
  const params = [QUERY('dryRun', 'When present, indicates that modifications should not be persisted.'),
    QUERY('fieldManager', 'A name associated with the actor or entity that is making these changes.'),
    QUERY('fieldValidation', 'Strict, Warn or Ignore: how the server treats unknown and duplicate fields.')];
  if (verb === 'patch') params.push({ ...QUERY('force', 'Force is going to "force" Apply requests.'), schema: { type: 'boolean' } as never });
  return {
    operationId: `${verb}${r.kind}`,
    tags: [r.group || 'core'],
    parameters: params,
    responses: { '200': { description: 'OK' } },
    'x-kubernetes-action': verb,
    'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
  };
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
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0-k8ts' }, paths, components: { schemas: {} } };
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
