// ConfigMaps: key names, data/binaryData overlap, 1 MiB total, the immutable flag, the table.
import type { ConfigMap, FieldError, Secret } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { byteLength, each, forbidden, invalid, isConfigMapKey, semanticEqual, tooLong } from '../validation.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { decodeBase64 } from './bytes.js';
import { isObj } from '../narrow.js';

export const MAX_CONFIG_SIZE = 1024 * 1024;

function validate(obj: ConfigMap): FieldError[] {
  const errs: FieldError[] = [];
  const data = isObj(obj.data) ? obj.data : {};
  const binary = isObj(obj.binaryData) ? obj.binaryData : {};
  let total = 0;
  for (const k of Object.keys(data).sort()) {
    errs.push(...each(`data[${k}]`, k, isConfigMapKey(k)));
    if (k in binary) errs.push(invalid(`data[${k}]`, k, 'duplicate of key present in binaryData'));
    total += byteLength(String(data[k] ?? ''));
  }
  for (const k of Object.keys(binary).sort()) {
    errs.push(...each(`binaryData[${k}]`, k, isConfigMapKey(k)));
    const d = decodeBase64(String(binary[k] ?? ''));
    if ('error' in d) errs.push(invalid(`binaryData[${k}]`, '<binary data>', d.error));
    else total += d.bytes;
  }
  // Kubernetes reports the size on the whole object (an empty field path).
  if (total > MAX_CONFIG_SIZE) errs.push(tooLong('', MAX_CONFIG_SIZE));
  return errs;
}

/** Once immutable is true it stays true and data/binaryData freeze (shared by Secrets). */
export function validateImmutableFlag<T extends ConfigMap | Secret>(obj: T, old: T, fields: (keyof T & string)[]): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  const msg = 'field is immutable when `immutable` is set';
  if (obj.immutable !== true) errs.push(forbidden('immutable', msg));
  for (const f of fields) if (!semanticEqual(obj[f], old[f])) errs.push(forbidden(f, msg));
  return errs;
}

export const configMapStrategy: ResourceStrategy<ConfigMap> = {
  validate,
  validateUpdate(obj, old) {
    return validateImmutableFlag(obj, old, ['data', 'binaryData']);
  },
  columns: [NAME_COLUMN, docColumn('Data', 'string', 'ConfigMap.data'), AGE_COLUMN],
  row(obj, now) {
    const n = Object.keys(isObj(obj.data) ? obj.data : {}).length + Object.keys(isObj(obj.binaryData) ? obj.binaryData : {}).length;
    return [obj.metadata.name ?? '', n, age(obj, now)];
  },
};
