// Secrets: Opaque default, stringData folded in, keys and base64, 1 MiB, per-type keys, immutability.
import type { FieldError, Secret } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { each, invalid, isConfigMapKey, required, tooLong, validateImmutable } from '../validation.js';
import { AGE_COLUMN, age, docColumn, NAME_COLUMN } from './columns.js';
import { decodeBase64 } from './bytes.js';
import { validateImmutableFlag, MAX_CONFIG_SIZE } from './configmap.js';
import { isObj } from '../narrow.js';
import { BOOTSTRAP_TOKEN_TYPE, validateBootstrapTokenSecret } from '../bootstraptoken.js';

function decodedText(data: Record<string, unknown>, key: string): string | undefined {
  const v = data[key];
  if (typeof v !== 'string' || 'error' in decodeBase64(v)) return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
}

function validate(obj: Secret): FieldError[] {
  const errs: FieldError[] = [];
  const data = isObj(obj.data) ? obj.data : {};
  let total = 0;
  for (const k of Object.keys(data).sort()) {
    errs.push(...each(`data[${k}]`, k, isConfigMapKey(k)));
    const d = decodeBase64(String(data[k] ?? ''));
    // A real server refuses this while decoding the request; here it becomes a field error.
    if ('error' in d) errs.push(invalid(`data[${k}]`, '<secret contents redacted>', d.error));
    else total += d.bytes;
  }
  if (total > MAX_CONFIG_SIZE) errs.push(tooLong('data', MAX_CONFIG_SIZE));
  const has = (k: string) => Object.hasOwn(data, k);
  const jsonKey = (k: string) => {
    if (!has(k)) return errs.push(required(`data[${k}]`));
    const text = decodedText(data, k);
    if (text === undefined) return;
    try {
      JSON.parse(text);
    } catch (e) {
      errs.push(invalid(`data[${k}]`, '<secret contents redacted>', (e as Error).message));
    }
  };
  switch (obj.type) {
    case 'kubernetes.io/service-account-token':
      if (!obj.metadata.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'kubernetes.io/dockercfg':
      jsonKey('.dockercfg');
      break;
    case 'kubernetes.io/dockerconfigjson':
      jsonKey('.dockerconfigjson');
      break;
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) errs.push(required('data[username]'), required('data[password]'));
      break;
    case 'kubernetes.io/ssh-auth':
      if (!decodedText(data, 'ssh-privatekey')) errs.push(required('data[ssh-privatekey]'));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) errs.push(required('data[tls.crt]'));
      if (!has('tls.key')) errs.push(required('data[tls.key]'));
      break;
    case BOOTSTRAP_TOKEN_TYPE:
      errs.push(...validateBootstrapTokenSecret(obj));
      break;
  }
  return errs;
}

export const secretStrategy: ResourceStrategy<Secret> = {
  defaults(obj) {
    obj.type ||= 'Opaque';
    // stringData is write-only: it lands in data (overriding equal keys) and is not stored.
    if (isObj(obj.stringData)) {
      obj.data = isObj(obj.data) ? obj.data : {};
      for (const [k, v] of Object.entries(obj.stringData)) obj.data[k] = Buffer.from(String(v ?? ''), 'utf8').toString('base64');
    }
    delete obj.stringData;
  },
  validate,
  validateUpdate(obj, old) {
    return [...validateImmutable('type', obj.type ?? '', old.type ?? ''), ...validateImmutableFlag(obj, old, ['data'])];
  },
  columns: [NAME_COLUMN, docColumn('Type', 'string', 'Secret.type'), docColumn('Data', 'string', 'Secret.data'), AGE_COLUMN],
  row(obj, now) {
    return [obj.metadata.name ?? '', String(obj.type ?? ''), Object.keys(isObj(obj.data) ? obj.data : {}).length, age(obj, now)];
  },
  fields(obj) {
    return { type: String(obj.type ?? '') };
  },
};
