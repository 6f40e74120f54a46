// Finding an image on this node by reference, without the network: the store's record for the normalised
// name, or the built-in busybox for docker.io/library/busybox with any tag.
import { BUILTIN_NAME, BUILTIN_REPOSITORY } from './builtin.js';
import { parseReference, repository, storeName } from './reference.js';
import type { ImageStore, StoredImage } from './store.js';

/** The image `ref` names on this node, complete (every layer present), or undefined. */
export async function findLocal(store: ImageStore, ref: string): Promise<StoredImage | undefined> {
  const r = parseReference(ref);
  const rec = await store.getImage(storeName(r));
  if (rec) {
    const s = await store.stored(rec);
    if (s) return s;
  }
  if (repository(r) === BUILTIN_REPOSITORY) {
    const b = await store.getImage(BUILTIN_NAME);
    if (b?.builtin && (!r.digest || r.digest === b.target)) return store.stored(b);
  }
  return undefined;
}

/** `<repository>@<digest>`: the kubelet's imageID for a container of this image. */
export function repoDigest(ref: string, s: StoredImage): string {
  void ref;
  return `${repository(parseReference(s.record.name))}@${s.record.target}`;
}
