// JSON Merge Patch (RFC 7386) over parsed JSON; the result shares nothing with the inputs.
import { badRequest, invalid } from './errors.js';
import { deepClone, hasOwn, isObject, jsonType, setKey, type JsonObject } from './json.js';

/** RFC 7386 MergePatch(target, patch): objects merge recursively, null removes a member, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return deepClone(patch);
  const out: JsonObject = isObject(target) ? deepClone(target) : {};
  for (const k of Object.keys(patch)) {
    const v = patch[k];
    if (v === null) delete out[k];
    else setKey(out, k, applyMergePatch(hasOwn(out, k) ? out[k] : undefined, v));
  }
  return out;
}

/**
 * A merge patch applied to a Kubernetes object, with the answers Kubernetes gives for bodies that are not
 * objects: null or a scalar is a bad patch (400); an array would replace the object with a list, which
 * cannot decode into the kind (422).
 */
export function applyMergePatchToObject(obj: unknown, patch: unknown): JsonObject {
  if (Array.isArray(patch)) throw invalid('merge patch is a JSON array: it would replace the object with a list');
  if (!isObject(patch)) throw badRequest(`merge patch must be a JSON object, got ${jsonType(patch)}`);
  return applyMergePatch(obj, patch) as JsonObject;
}
