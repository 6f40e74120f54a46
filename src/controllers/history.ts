// ControllerRevisions for DaemonSets and StatefulSets (upstream's controller history): a revision holds
// the patch that puts a pod template back (`{"spec":{"template":{…,"$patch":"replace"}}}`, what
// `kubectl rollout undo` applies), named <owner>-<hash of the template and collisionCount>.
import { CONTROLLERREVISIONS } from '../api/kinds.js';
import type { ControllerRevision, KObject, PodTemplateSpec } from '../api/types.js';
import { semanticEqual } from '../api/validation.js';
import type { Client } from '../client/types.js';
import { isConflict } from '../client/types.js';

/** The label on revisions (and DaemonSet/StatefulSet pods) naming their revision's hash. */
export const REVISION_HASH_LABEL = 'controller-revision-hash';

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: each character mapped into an alphabet without vowels (no words in names). */
function safeEncode(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/** JSON with sorted keys: one text per template whatever order the fields arrived in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** FNV-1a 32 of the template's canonical JSON and the collision count, safe-encoded as upstream's hashes. */
export function templateHash(template: unknown, collisionCount = 0): string {
  let h = 0x811c9dc5;
  const text = canonical(template) + (collisionCount ? String(collisionCount) : '');
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return safeEncode(String(h));
}

/** The patch a revision stores for an owner's template. */
export function revisionData(template: PodTemplateSpec | undefined): { spec: { template: Record<string, unknown> } } {
  return { spec: { template: { ...(structuredClone(template ?? {}) as Record<string, unknown>), $patch: 'replace' } } };
}

/** The template a revision puts back. */
export function templateOf(rev: ControllerRevision): PodTemplateSpec {
  const data = rev.data as { spec?: { template?: Record<string, unknown> } } | undefined;
  const { $patch: _, ...template } = data?.spec?.template ?? {};
  return template as PodTemplateSpec;
}

export function ownerRef(owner: KObject, kind: string) {
  return { apiVersion: 'apps/v1', kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

export interface RevisionOwner extends KObject {
  spec?: { template?: PodTemplateSpec; selector?: unknown; revisionHistoryLimit?: number };
  status?: { collisionCount?: number };
}

/** Revisions owned by the owner (by controller uid), oldest revision first. */
export function ownedRevisions(all: ControllerRevision[], owner: KObject): ControllerRevision[] {
  return all
    .filter((r) => (r.metadata.ownerReferences ?? []).some((o) => o.controller && o.uid === owner.metadata.uid))
    .sort((a, b) => a.revision - b.revision || a.metadata.name!.localeCompare(b.metadata.name!));
}

/**
 * The revision for the owner's current template, made or reused: an existing revision with equal data
 * becomes the newest (its number raised past the others, which is how an undo shows in history); otherwise
 * a new one is created with the next number. A name taken by a different template raises collisionCount
 * (returned, for the owner's status) and the hash is computed again.
 */
export async function ensureRevision(
  client: Client,
  owner: RevisionOwner,
  kind: string,
  revisions: ControllerRevision[],
  labels: Record<string, string>,
): Promise<{ revision: ControllerRevision; collisionCount: number }> {
  const data = revisionData(owner.spec?.template);
  const max = revisions.reduce((m, r) => Math.max(m, r.revision), 0);
  const equal = revisions.filter((r) => semanticEqual(r.data, data));
  let collisionCount = owner.status?.collisionCount ?? 0;
  if (equal.length) {
    const rev = equal[equal.length - 1];
    if (rev.revision === max) return { revision: rev, collisionCount };
    const updated = await client.update(CONTROLLERREVISIONS, rev.metadata.namespace, { ...structuredClone(rev), revision: max + 1 });
    return { revision: updated, collisionCount };
  }
  const ns = owner.metadata.namespace!;
  for (;;) {
    const hash = templateHash(owner.spec?.template, collisionCount);
    const name = `${owner.metadata.name}-${hash}`;
    try {
      const created = await client.create(CONTROLLERREVISIONS, ns, {
        apiVersion: 'apps/v1',
        kind: 'ControllerRevision',
        metadata: { name, namespace: ns, labels: { ...labels, [REVISION_HASH_LABEL]: hash }, ownerReferences: [ownerRef(owner, kind)] },
        data,
        revision: max + 1,
      });
      return { revision: created, collisionCount };
    } catch (e) {
      if (!isConflict(e) && (e as { code?: number }).code !== 409) throw e;
      const existing = await client.get(CONTROLLERREVISIONS, ns, name);
      if (existing && semanticEqual(existing.data, data) && (existing.metadata.ownerReferences ?? []).some((o) => o.uid === owner.metadata.uid)) {
        // Ours, made by a write the cache has not shown yet.
        return { revision: existing, collisionCount };
      }
      collisionCount++;
    }
  }
}

/** Delete the oldest revisions beyond revisionHistoryLimit that no live pod or status names. */
export async function truncateHistory(client: Client, owner: RevisionOwner, revisions: ControllerRevision[], live: Set<string>): Promise<void> {
  const limit = owner.spec?.revisionHistoryLimit ?? 10;
  const dead = revisions.filter((r) => !live.has(r.metadata.name!));
  for (const r of dead.slice(0, Math.max(0, dead.length - limit))) {
    try {
      await client.delete(CONTROLLERREVISIONS, r.metadata.namespace, r.metadata.name!);
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
    }
  }
}
