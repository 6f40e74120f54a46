// Build step: the OpenAPI definitions of every Kubernetes type, read from the `kubernetes-types` package's
// declaration files with TypeScript's parser. The package is generated from upstream's OpenAPI, so its
// doc comments are the field descriptions, `?` marks the fields that are not required, and literal
// `apiVersion`/`kind` types name a kind's group-version-kind. Integer formats come from k8ts's protobuf
// tables (the .d.ts says only `number`). Run after tsc (`make build`); the API server also runs it on
// first use when the file is missing (typescript is then needed, as in any checkout).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT, distFile } from '../../util/layout.js';
import type * as TS from 'typescript';
import { K8S_SCHEMA } from '../protobuf/k8s-messages.js';

export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
  $ref?: string;
  allOf?: Schema[];
  default?: unknown;
  [ext: `x-${string}`]: unknown;
}

export interface GeneratedDefinitions {
  /** The kubernetes-types version the definitions were read from. */
  source: string;
  /** Hash of what made them (inputsHash): a file made by another generator is stale. */
  inputs: string;
  definitions: Record<string, Schema>;
}

/** sha256 of the generator, the protobuf tables it reads and the kubernetes-types version. */
export function inputsHash(): string {
  const require = createRequire(import.meta.url);
  const h = createHash('sha256');
  for (const p of ['src/apiserver/openapi/generate.js', 'src/apiserver/protobuf/k8s-messages.js']) h.update(readFileSync(distFile(p)));
  h.update(readFileSync(require.resolve('kubernetes-types/package.json', { paths: [ROOT] })));
  return h.digest('hex');
}

export const DEFINITIONS_FILE = distFile('generated/openapi-definitions.json');

/** kubernetes-types module path (`core/v1`) → upstream OpenAPI definition prefix. */
export function definitionPrefix(module: string): string {
  const special: Record<string, string> = {
    'meta/v1': 'io.k8s.apimachinery.pkg.apis.meta.v1',
    'api/resource': 'io.k8s.apimachinery.pkg.api.resource',
    runtime: 'io.k8s.apimachinery.pkg.runtime',
    version: 'io.k8s.apimachinery.pkg.version',
  };
  if (special[module]) return special[module];
  if (module.startsWith('apiextensions/')) return `io.k8s.apiextensions-apiserver.pkg.apis.${module.replace('/', '.')}`;
  return `io.k8s.api.${module.replace('/', '.')}`;
}

/** The protobuf table name of a definition (`core.v1.Pod`), where the integer widths are. */
function tableName(def: string): string {
  return def.replace(/^io\.k8s\.api\./, '').replace(/^io\.k8s\.apimachinery\.pkg\.apis\./, '');
}

/** Aliases and inlined unions that upstream publishes as definitions of their own. */
const NAMED: Record<string, Schema> = {
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { type: 'string' },
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': {
    type: 'string',
    format: 'int-or-string',
    description:
      'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.',
  },
};
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

function walkDts(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walkDts(p, out);
    else if (name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

export function generateDefinitions(): GeneratedDefinitions {
  const require = createRequire(import.meta.url);
  const ts = require('typescript') as typeof TS;
  const pkgDir = dirname(require.resolve('kubernetes-types/package.json', { paths: [ROOT] }));
  const version = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version as string;
  const definitions: Record<string, Schema> = {};
  for (const file of walkDts(pkgDir, []).sort()) {
    const module = relative(pkgDir, file)
      .replace(/\.d\.ts$/, '')
      .split('\\')
      .join('/');
    if (module === 'v1' || module === 'index') continue;
    const prefix = definitionPrefix(module);
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const imported = new Map<string, string>();
    for (const st of src.statements) {
      if (
        ts.isImportDeclaration(st) &&
        ts.isStringLiteral(st.moduleSpecifier) &&
        st.importClause?.namedBindings &&
        ts.isNamedImports(st.importClause.namedBindings)
      ) {
        const target = join(dirname(module), st.moduleSpecifier.text).split('\\').join('/');
        for (const el of st.importClause.namedBindings.elements) imported.set(el.name.text, `${definitionPrefix(target)}.${(el.propertyName ?? el.name).text}`);
      }
    }
    const refName = (id: string) => imported.get(id) ?? `${prefix}.${id}`;
    const doc = (node: TS.Node): string | undefined => {
      const docs = (node as { jsDoc?: TS.JSDoc[] }).jsDoc;
      if (!docs?.length) return undefined;
      const text = ts.getTextOfJSDocComment(docs[docs.length - 1].comment);
      return text?.trim() || undefined;
    };
    const typeOf = (t: TS.TypeNode, owner: string, field: string): Schema => {
      switch (t.kind) {
        case ts.SyntaxKind.StringKeyword:
          return { type: 'string' };
        case ts.SyntaxKind.BooleanKeyword:
          return { type: 'boolean' };
        case ts.SyntaxKind.NumberKeyword: {
          const f = K8S_SCHEMA.has(tableName(owner)) ? K8S_SCHEMA.get(tableName(owner)).fields.find((x) => x.json === field) : undefined;
          if (f?.type === 'int32') return { type: 'integer', format: 'int32' };
          if (f?.type === 'int64') return { type: 'integer', format: 'int64' };
          if (f?.type === 'double') return { type: 'number', format: 'double' };
          return { type: 'number' };
        }
        case ts.SyntaxKind.AnyKeyword:
        case ts.SyntaxKind.UnknownKeyword:
          return { type: 'object' };
        default:
          break;
      }
      if (ts.isLiteralTypeNode(t)) return { type: ts.isStringLiteral(t.literal) ? 'string' : 'boolean' };
      if (ts.isArrayTypeNode(t)) return { type: 'array', items: typeOf(t.elementType, owner, field) };
      if (ts.isUnionTypeNode(t)) {
        const kinds = t.types.map((x) => x.kind).sort();
        if (kinds.length === 2 && kinds.includes(ts.SyntaxKind.NumberKeyword) && kinds.includes(ts.SyntaxKind.StringKeyword)) return { $ref: INT_OR_STRING };
        return { type: 'object' };
      }
      if (ts.isTypeLiteralNode(t)) {
        const idx = t.members.find(ts.isIndexSignatureDeclaration);
        if (idx) return { type: 'object', additionalProperties: typeOf(idx.type, owner, field) };
        return { type: 'object' };
      }
      if (ts.isTypeReferenceNode(t) && ts.isIdentifier(t.typeName)) {
        const id = t.typeName.text;
        if (id === 'Array' && t.typeArguments?.length === 1) return { type: 'array', items: typeOf(t.typeArguments[0], owner, field) };
        return { $ref: refName(id) };
      }
      throw new Error(`openapi generate: ${owner}.${field}: unsupported type ${ts.SyntaxKind[t.kind]}`);
    };
    for (const st of src.statements) {
      if (ts.isInterfaceDeclaration(st)) {
        const name = `${prefix}.${st.name.text}`;
        const def: Schema = { type: 'object' };
        const description = doc(st);
        if (description) def.description = description;
        const properties: Record<string, Schema> = {};
        const required: string[] = [];
        let apiVersion: string | undefined;
        let kind: string | undefined;
        for (const m of st.members) {
          if (!ts.isPropertySignature(m) || !m.type) continue;
          const field = ts.isIdentifier(m.name) || ts.isStringLiteral(m.name) ? m.name.text : m.name.getText(src);
          const p = typeOf(m.type, name, field);
          const d = doc(m);
          if (d) p.description = d;
          properties[field] = p;
          if (!m.questionToken) required.push(field);
          if (ts.isLiteralTypeNode(m.type) && ts.isStringLiteral(m.type.literal)) {
            if (field === 'apiVersion') apiVersion = m.type.literal.text;
            if (field === 'kind') kind = m.type.literal.text;
          }
        }
        if (Object.keys(properties).length) def.properties = properties;
        if (required.length) def.required = required.sort();
        if (apiVersion && kind) {
          const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
          def['x-kubernetes-group-version-kind'] = [{ group, kind, version }];
        }
        definitions[name] = def;
      } else if (ts.isTypeAliasDeclaration(st)) {
        const name = `${prefix}.${st.name.text}`;
        const base = NAMED[name] ?? typeOf(st.type, name, '');
        const description = doc(st);
        definitions[name] = { ...base, ...(description ? { description } : {}) };
      }
    }
  }
  for (const [name, s] of Object.entries(NAMED)) definitions[name] ??= s;
  supplement(definitions);
  return { source: `kubernetes-types@${version}`, inputs: inputsHash(), definitions };
}

/** Table name → definition name: `core.v1.Pod` → io.k8s.api.core.v1.Pod, `meta.v1.Time` → …meta.v1.Time. */
function definitionOfTable(table: string): string {
  const [pkg, ...rest] = table.split('.');
  const name = rest.join('.');
  switch (pkg) {
    case 'meta':
      return `io.k8s.apimachinery.pkg.apis.meta.${name}`;
    case 'intstr':
      return `io.k8s.apimachinery.pkg.util.intstr.${name}`;
    case 'resource':
      return `io.k8s.apimachinery.pkg.api.resource.${name}`;
    case 'runtime':
      return `io.k8s.apimachinery.pkg.runtime.${name}`;
    default:
      return `io.k8s.api.${table}`;
  }
}

/** The fields k8ts's protobuf tables know and kubernetes-types (an older release) does not: added
 *  with their types and no description, so that explain and kubectl's apply (which fails a patch on
 *  a field its schema lacks) know every field the server accepts. New types come whole. */
function supplement(definitions: Record<string, Schema>): void {
  const scalar: Record<string, Schema> = {
    string: { type: 'string' },
    bool: { type: 'boolean' },
    int32: { type: 'integer', format: 'int32' },
    int64: { type: 'integer', format: 'int64' },
    double: { type: 'number', format: 'double' },
    bytes: { type: 'string', format: 'byte' },
  };
  const added = new Set<string>();
  const fill = (table: string): void => {
    const msg = K8S_SCHEMA.get(table);
    if (msg.special || msg.listWrapper) return;
    const name = definitionOfTable(table);
    const def = (definitions[name] ??= { type: 'object', 'x-k8ts-source': 'protobuf tables' });
    const props = (def.properties ??= {});
    const fields = (m: typeof msg): typeof msg.fields => m.fields.flatMap((f) => (f.inline ? fields(K8S_SCHEMA.get(f.message!)) : [f]));
    for (const f of fields(msg)) {
      if (props[f.json]) continue;
      let item: Schema;
      if (f.type === 'message') {
        const target = K8S_SCHEMA.get(f.message!);
        const ref = definitionOfTable(f.message!);
        if (target.listWrapper) item = { type: 'array', items: scalar[target.fields[0].type] ?? { type: 'string' } };
        else {
          if (!definitions[ref] && !added.has(ref)) {
            added.add(ref);
            fill(f.message!);
          }
          item = { $ref: ref };
        }
      } else item = scalar[f.type];
      props[f.json] = f.map ? { type: 'object', additionalProperties: item } : f.repeated ? { type: 'array', items: item } : item;
    }
  };
  for (const table of K8S_SCHEMA.names()) {
    const name = definitionOfTable(table);
    // Only the types the served API uses: those kubernetes-types has, and what they newly reach.
    if (definitions[name]) fill(table);
  }
}

/** Writes the definitions file (atomically: a reader never sees half of it). */
export function writeDefinitions(path = DEFINITIONS_FILE): GeneratedDefinitions {
  const g = generateDefinitions();
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(g));
  renameSync(tmp, path);
  return g;
}

// Run as a script by the build (never when bundled into the CLI, where every module shares one location).
if (process.argv[1] && resolve(process.argv[1]) === distFile('src/apiserver/openapi/generate.js')) {
  const g = writeDefinitions();
  console.log(`openapi: ${Object.keys(g.definitions).length} definitions from ${g.source} → ${relative(process.cwd(), DEFINITIONS_FILE)}`);
}
