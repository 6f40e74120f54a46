// Discovery documents: aggregated (apidiscovery.k8s.io v2 and v2beta1) and legacy, built from the
// resource registry, negotiated on the Accept header the way client-go reads them.
import { RESOURCES, groups, groupVersion, type ResourceDef } from '../api/resources.js';
import { KUBE_VERSION } from '../api/version.js';

export function versionInfo(): Record<string, string> {
  return {
    ...KUBE_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2026-11-27T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsc',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}

const AGG_TYPE = (v: string) => `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`;

/** Which discovery format the client asked for first: 'v2', 'v2beta1' or 'legacy'. */
export function negotiateDiscovery(accept: string | undefined): 'v2' | 'v2beta1' | 'legacy' {
  for (const part of (accept ?? '').split(',')) {
    const params = new Map<string, string>();
    const [type, ...rest] = part.split(';').map((s) => s.trim());
    for (const p of rest) {
      const [k, v] = p.split('=');
      if (k && v) params.set(k.trim(), v.trim());
    }
    if (type === 'application/json' && params.get('g') === 'apidiscovery.k8s.io' && params.get('as') === 'APIGroupDiscoveryList') {
      const v = params.get('v');
      if (v === 'v2' || v === 'v2beta1') return v;
      continue;
    }
    if (type === 'application/json' || type === '*/*' || type === 'application/*') return 'legacy';
  }
  return 'legacy';
}

function aggregatedResource(r: ResourceDef) {
  return {
    resource: r.plural,
    singularResource: r.singular,
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    verbs: r.verbs,
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    ...(r.categories.length ? { categories: r.categories } : {}),
    ...(r.subresources.length
      ? {
          subresources: r.subresources.map((s) => ({
            subresource: s.name,
            responseKind: { group: s.group ?? r.group, version: s.version ?? r.version, kind: s.kind },
            verbs: s.verbs,
          })),
        }
      : {}),
  };
}

/** Aggregated discovery for /api (core: true) or /apis (core: false). */
export function aggregated(core: boolean, version: 'v2' | 'v2beta1'): { contentType: string; body: unknown } {
  const items = groups()
    .filter((g) => (g.group === '') === core)
    .map((g) => ({
      metadata: { name: g.group, creationTimestamp: null },
      versions: g.versions.map((v) => ({
        version: v,
        freshness: 'Current',
        resources: RESOURCES.filter((r) => r.group === g.group && r.version === v).map(aggregatedResource),
      })),
    }));
  return {
    contentType: AGG_TYPE(version),
    body: { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items },
  };
}

export function legacyApi(serverAddress: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function legacyGroup(name: string): unknown | undefined {
  const g = groups().find((x) => x.group === name && name !== '');
  if (!g) return undefined;
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: g.group, versions, preferredVersion: versions[0] };
}

export function legacyGroups(): unknown {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups()
      .filter((g) => g.group !== '')
      .map((g) => legacyGroup(g.group)),
  };
}

/** APIResourceList for one group-version, or undefined when it is not served. */
export function resourceList(group: string, version: string): unknown | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const resources: unknown[] = [];
  for (const r of rs) {
    resources.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
    });
    for (const s of r.subresources) {
      resources.push({
        name: `${r.plural}/${s.name}`,
        singularName: '',
        namespaced: r.namespaced,
        ...(s.group !== undefined && s.group !== r.group ? { group: s.group, version: s.version } : {}),
        kind: s.kind,
        verbs: s.verbs,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources };
}
