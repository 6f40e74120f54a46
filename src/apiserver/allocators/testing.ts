// Test fixtures for service allocation: the Service the allocation tests build, typed so a fixture is checked
// against the kind where it is written, and the allocated values read with a named failure when missing.
import type { ObjectMeta, Service, ServiceSpec } from '../../api/types.js';

/** A Service `name` selecting `app: name` on port 80; `spec` adds to or replaces those fields. */
export function serviceFixture(name: string, spec: ServiceSpec = {}, metadata: Partial<ObjectMeta> = {}): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, ...metadata }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec } };
}

/** The ClusterIP a service was given (fails the test when it has none). */
export function clusterIPOf(s: Service): string {
  const ip = s.spec?.clusterIP;
  if (ip === undefined) throw new Error(`service ${s.metadata.name} has no clusterIP`);
  return ip;
}

/** The node port of a service's first port (fails the test when it has none). */
export function nodePortOf(s: Service, i = 0): number {
  const p = s.spec?.ports?.[i]?.nodePort;
  if (p === undefined) throw new Error(`service ${s.metadata.name} has no nodePort on port ${i}`);
  return p;
}
