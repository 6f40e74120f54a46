// The minimal gnostic openapi.v2.Document protobuf that kubectl 1.27/1.28 need at /openapi/v2 to validate.
//
// kubectl looks for the object's group-version-kind in the `x-kubernetes-group-version-kind` vendor
// extension of a path's PATCH operation, and for a `fieldValidation` query parameter on that same
// operation; if both are there it leaves validation to the server (`fieldValidation=Strict`).

import { ProtoReader, ProtoWriter, ProtobufError, WireType, wireTypeName } from '../../util/protowire.js';

/** Content-Type to answer /openapi/v2 with: the Accept value minus its `@`, which Go cannot parse. */
export const OPENAPI_V2_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface OpenAPIv2Operation {
  /** Object path, e.g. `/api/v1/namespaces/{namespace}/pods/{name}`. */
  path: string;
  gvk: GroupVersionKind;
  namespaced: boolean;
}

export interface OpenAPIv2Info {
  title: string;
  version: string;
}

export interface OpenAPIv2Parameter {
  name: string;
  in: 'query' | 'path';
  type: string;
  required: boolean;
}

export interface OpenAPIv2Doc {
  swagger: string;
  info: OpenAPIv2Info;
  paths: Array<{
    name: string;
    parameters: OpenAPIv2Parameter[];
    patch?: {
      parameters: OpenAPIv2Parameter[];
      responses: Array<{ code: string; description: string }>;
      vendorExtensions: Array<{ name: string; yaml: string }>;
    };
  }>;
}

// gnostic openapi.v2 field numbers
const DOC = { swagger: 1, info: 2, paths: 8 } as const;
const INFO = { title: 1, version: 2 } as const;
const PATHS = { path: 2 } as const;
const NAMED = { name: 1, value: 2 } as const; // NamedPathItem, NamedResponseValue, NamedAny
const PATH_ITEM = { patch: 8, parameters: 9 } as const;
const OPERATION = { parameters: 8, responses: 9, vendorExtension: 13 } as const;
const PARAMETERS_ITEM = { parameter: 1 } as const;
const PARAMETER = { nonBody: 2 } as const;
const NON_BODY = { query: 3, path: 4 } as const;
// QueryParameterSubSchema and PathParameterSubSchema share these numbers; `type` differs
const SUB_SCHEMA = { required: 1, in: 2, name: 4 } as const;
const QUERY_TYPE = 6;
const PATH_TYPE = 5;
const RESPONSES = { responseCode: 1 } as const;
const RESPONSE_VALUE = { response: 1 } as const;
const RESPONSE = { description: 1 } as const;
const ANY = { yaml: 2 } as const;

export const GVK_EXTENSION = 'x-kubernetes-group-version-kind';

/** Encodes the document: one path item with a PATCH operation per object path. */
export function encodeOpenAPIv2(ops: readonly OpenAPIv2Operation[], info: OpenAPIv2Info = { title: 'k8ts', version: 'v1' }): Buffer {
  const seen = new Set<string>();
  for (const op of ops) {
    if (seen.has(op.path)) throw new Error(`openapi v2: path ${op.path} listed twice`);
    seen.add(op.path);
    if (op.namespaced !== op.path.includes('{namespace}')) {
      throw new Error(`openapi v2: path ${op.path} ${op.namespaced ? 'lacks' : 'has'} {namespace} but the kind is ${op.namespaced ? '' : 'not '}namespaced`);
    }
  }
  const w = new ProtoWriter(256 + ops.length * 256);
  w.string(DOC.swagger, '2.0');
  w.message(DOC.info, (i) => i.string(INFO.title, info.title).string(INFO.version, info.version));
  w.message(DOC.paths, (p) => {
    for (const op of ops) {
      p.message(PATHS.path, (named) => {
        named.string(NAMED.name, op.path);
        named.message(NAMED.value, (item) => {
          item.message(PATH_ITEM.patch, (o) => {
            writeParameter(o, OPERATION.parameters, { name: 'fieldValidation', in: 'query', type: 'string', required: false });
            o.message(OPERATION.responses, (rs) =>
              rs.message(RESPONSES.responseCode, (nr) =>
                nr.string(NAMED.name, '200').message(NAMED.value, (rv) => rv.message(RESPONSE_VALUE.response, (r) => r.string(RESPONSE.description, 'OK'))),
              ),
            );
            o.message(OPERATION.vendorExtension, (na) => na.string(NAMED.name, GVK_EXTENSION).message(NAMED.value, (a) => a.string(ANY.yaml, gvkYaml(op.gvk))));
          });
          for (const name of pathParams(op.path)) {
            writeParameter(item, PATH_ITEM.parameters, { name, in: 'path', type: 'string', required: true });
          }
        });
      });
    }
  });
  return w.finish();
}

function writeParameter(w: ProtoWriter, field: number, p: OpenAPIv2Parameter): void {
  w.message(field, (pi) =>
    pi.message(PARAMETERS_ITEM.parameter, (pa) =>
      pa.message(PARAMETER.nonBody, (nb) =>
        nb.message(p.in === 'query' ? NON_BODY.query : NON_BODY.path, (s) => {
          if (p.required) s.bool(SUB_SCHEMA.required, true);
          s.string(SUB_SCHEMA.in, p.in);
          s.string(SUB_SCHEMA.name, p.name);
          s.string(p.in === 'query' ? QUERY_TYPE : PATH_TYPE, p.type);
        }),
      ),
    ),
  );
}

function pathParams(path: string): string[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
}

/** The extension's YAML value, keys sorted as Kubernetes writes them. */
export function gvkYaml(gvk: GroupVersionKind): string {
  return `group: ${yamlString(gvk.group)}\nkind: ${yamlString(gvk.kind)}\nversion: ${yamlString(gvk.version)}\n`;
}

function yamlString(s: string): string {
  const plain = /^[A-Za-z][A-Za-z0-9._/-]*$/.test(s) && !/^(true|false|yes|no|on|off|null|y|n)$/i.test(s);
  return plain ? s : JSON.stringify(s);
}

/** Reads back what encodeOpenAPIv2 writes (other fields are skipped). */
export function decodeOpenAPIv2(buf: Uint8Array): OpenAPIv2Doc {
  const doc: OpenAPIv2Doc = { swagger: '', info: { title: '', version: '' }, paths: [] };
  fieldsOf(new ProtoReader(buf), {
    [DOC.swagger]: (r) => (doc.swagger = r.string()),
    [DOC.info]: (r) =>
      fieldsOf(r.sub(), {
        [INFO.title]: (i) => (doc.info.title = i.string()),
        [INFO.version]: (i) => (doc.info.version = i.string()),
      }),
    [DOC.paths]: (r) =>
      fieldsOf(r.sub(), {
        [PATHS.path]: (p) => doc.paths.push(readNamedPathItem(p.sub())),
      }),
  });
  return doc;
}

type PathEntry = OpenAPIv2Doc['paths'][number];

function readNamedPathItem(r: ProtoReader): PathEntry {
  const entry: PathEntry = { name: '', parameters: [] };
  fieldsOf(r, {
    [NAMED.name]: (n) => (entry.name = n.string()),
    [NAMED.value]: (n) =>
      fieldsOf(n.sub(), {
        [PATH_ITEM.parameters]: (it) => entry.parameters.push(...readParametersItem(it.sub())),
        [PATH_ITEM.patch]: (it) => {
          const patch: NonNullable<PathEntry['patch']> = { parameters: [], responses: [], vendorExtensions: [] };
          fieldsOf(it.sub(), {
            [OPERATION.parameters]: (o) => patch.parameters.push(...readParametersItem(o.sub())),
            [OPERATION.responses]: (o) =>
              fieldsOf(o.sub(), {
                [RESPONSES.responseCode]: (rc) => {
                  const resp = { code: '', description: '' };
                  fieldsOf(rc.sub(), {
                    [NAMED.name]: (x) => (resp.code = x.string()),
                    [NAMED.value]: (x) =>
                      fieldsOf(x.sub(), {
                        [RESPONSE_VALUE.response]: (y) => fieldsOf(y.sub(), { [RESPONSE.description]: (z) => (resp.description = z.string()) }),
                      }),
                  });
                  patch.responses.push(resp);
                },
              }),
            [OPERATION.vendorExtension]: (o) => {
              const ext = { name: '', yaml: '' };
              fieldsOf(o.sub(), {
                [NAMED.name]: (x) => (ext.name = x.string()),
                [NAMED.value]: (x) => fieldsOf(x.sub(), { [ANY.yaml]: (y) => (ext.yaml = y.string()) }),
              });
              patch.vendorExtensions.push(ext);
            },
          });
          entry.patch = patch;
        },
      }),
  });
  return entry;
}

function readParametersItem(r: ProtoReader): OpenAPIv2Parameter[] {
  const out: OpenAPIv2Parameter[] = [];
  fieldsOf(r, {
    [PARAMETERS_ITEM.parameter]: (p) =>
      fieldsOf(p.sub(), {
        [PARAMETER.nonBody]: (nb) =>
          fieldsOf(nb.sub(), {
            [NON_BODY.query]: (s) => out.push(readSubSchema(s.sub(), 'query')),
            [NON_BODY.path]: (s) => out.push(readSubSchema(s.sub(), 'path')),
          }),
      }),
  });
  return out;
}

function readSubSchema(r: ProtoReader, kind: 'query' | 'path'): OpenAPIv2Parameter {
  const p: OpenAPIv2Parameter = { name: '', in: kind, type: '', required: false };
  fieldsOf(
    r,
    {
      [SUB_SCHEMA.required]: (x) => (p.required = x.bool()),
      [SUB_SCHEMA.in]: (x) => {
        const v = x.string();
        if (v !== kind) throw new ProtobufError('InvalidValue', `a ${kind} parameter says in: ${JSON.stringify(v)}`);
      },
      [SUB_SCHEMA.name]: (x) => (p.name = x.string()),
      [kind === 'query' ? QUERY_TYPE : PATH_TYPE]: (x) => (p.type = x.string()),
    },
    [SUB_SCHEMA.required],
  );
  return p;
}

/** Calls the handler of each known field (checking wire types), skips the rest. */
function fieldsOf(r: ProtoReader, handlers: Record<number, (r: ProtoReader) => unknown>, varintFields: readonly number[] = []): void {
  while (!r.done()) {
    const at = r.pos;
    const { field, wire } = r.tag();
    const h = handlers[field];
    if (h === undefined) {
      r.skip(wire);
      continue;
    }
    const expected = varintFields.includes(field) ? WireType.Varint : WireType.LengthDelimited;
    if (wire !== expected) {
      throw new ProtobufError('WireTypeMismatch', `openapi v2 field ${field}: expected ${wireTypeName(expected)}, got ${wireTypeName(wire)}`, at);
    }
    h(r);
  }
}
