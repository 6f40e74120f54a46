// CertificateSigningRequests (certificates.k8s.io/v1): the request parsed and checked at the door, the
// requester recorded from authentication (never from the body), conditions checked on /approval and /status.
import type { CertificateSigningRequest, FieldError } from '../types.js';
import type { ResourceStrategy } from '../strategy.js';
import { duplicate, forbidden, invalid, notSupported, required } from '../fielderror.js';
import { AGE_COLUMN, NAME_COLUMN, age, column } from './columns.js';
import { isObj, fieldsOf } from '../narrow.js';
import { requestUser } from '../authorization.js';
import { KEY_USAGES, parseCsrPem, signerRules } from '../certificates/csr.js';

const SIGNER_NAME = /^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const CONDITION_TYPES = ['Approved', 'Denied', 'Failed'];

interface Condition {
  type?: unknown;
  status?: unknown;
  reason?: unknown;
  message?: unknown;
  lastUpdateTime?: unknown;
  lastTransitionTime?: unknown;
}

function conditions(obj: CertificateSigningRequest): Condition[] {
  const st = fieldsOf(obj.status);
  return Array.isArray(st.conditions) ? (st.conditions as Condition[]) : [];
}

/** spec.request is base64 in JSON (a []byte); the decoded PEM. */
function requestPem(spec: Record<string, unknown>): string | undefined {
  return typeof spec.request === 'string' ? Buffer.from(spec.request, 'base64').toString('latin1') : undefined;
}

function validateConditions(obj: CertificateSigningRequest): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  conditions(obj).forEach((c, i) => {
    const f = `status.conditions[${i}]`;
    if (typeof c.type !== 'string' || !c.type) errs.push(required(`${f}.type`));
    else if (seen.has(c.type) && CONDITION_TYPES.includes(c.type)) errs.push(duplicate(`${f}.type`, c.type));
    else seen.add(c.type);
    if (c.status !== 'True' && c.status !== 'False' && c.status !== 'Unknown')
      errs.push(notSupported(`${f}.status`, c.status ?? '', ['False', 'True', 'Unknown']));
    else if ((c.type === 'Approved' || c.type === 'Denied') && c.status !== 'True') errs.push(notSupported(`${f}.status`, c.status, ['True']));
  });
  if (seen.has('Approved') && seen.has('Denied')) errs.push(invalid('status.conditions', 'Approved', 'Approved and Denied conditions are mutually exclusive'));
  return errs;
}

/** Approved and Denied never go away once set (upstream's validateConditionsUpdate). */
function validateConditionsKept(obj: CertificateSigningRequest, old: CertificateSigningRequest): FieldError[] {
  const now = new Set(conditions(obj).map((c) => c.type));
  return conditions(old)
    .filter((c) => (c.type === 'Approved' || c.type === 'Denied') && !now.has(c.type))
    .map((c) => forbidden('status.conditions', `updates may not remove a condition of type "${String(c.type)}"`));
}

export const csrStrategy: ResourceStrategy<CertificateSigningRequest> = {
  prepareForCreate(obj) {
    // Who asked is what authentication said, not what the body claims.
    const u = requestUser.getStore();
    const spec = isObj(obj.spec) ? obj.spec : (obj.spec = {});
    delete spec.username;
    delete spec.uid;
    delete spec.groups;
    delete spec.extra;
    if (u) {
      spec.username = u.name;
      if (u.uid) spec.uid = u.uid;
      spec.groups = [...u.groups];
      if (u.extra && Object.keys(u.extra).length) spec.extra = structuredClone(u.extra);
    }
    delete obj.status;
  },
  validate(obj) {
    const spec = fieldsOf(obj.spec);
    const errs: FieldError[] = [];
    const pem = requestPem(spec);
    let parsed;
    if (pem === undefined || pem === '') errs.push(required('spec.request'));
    else {
      try {
        parsed = parseCsrPem(pem);
      } catch (e) {
        errs.push(invalid('spec.request', '<binary>', e instanceof Error ? e.message : String(e)));
      }
    }
    const signer = spec.signerName;
    if (typeof signer !== 'string' || !signer) errs.push(required('spec.signerName'));
    else if (!SIGNER_NAME.test(signer) || signer.length > 571) {
      errs.push(invalid('spec.signerName', signer, "must be a fully qualified domain and path of the form 'example.com/signer-name'"));
    }
    const usages = Array.isArray(spec.usages) ? spec.usages : [];
    if (!Array.isArray(spec.usages) || usages.length === 0) errs.push(required('spec.usages'));
    const seen = new Set<unknown>();
    usages.forEach((u, i) => {
      if (typeof u !== 'string' || !(KEY_USAGES as readonly string[]).includes(u)) errs.push(notSupported(`spec.usages[${i}]`, u, KEY_USAGES));
      else if (seen.has(u)) errs.push(duplicate(`spec.usages[${i}]`, u));
      seen.add(u);
    });
    if (
      spec.expirationSeconds !== undefined &&
      (typeof spec.expirationSeconds !== 'number' || !Number.isInteger(spec.expirationSeconds) || spec.expirationSeconds < 600)
    ) {
      errs.push(invalid('spec.expirationSeconds', spec.expirationSeconds, 'may not specify a duration less than 600 seconds (10 minutes)'));
    }
    if (parsed && typeof signer === 'string')
      errs.push(
        ...signerRules(
          signer,
          parsed,
          usages.filter((u): u is string => typeof u === 'string'),
        ),
      );
    return [...errs, ...validateConditions(obj)];
  },
  validateUpdate(obj, old) {
    // The spec is immutable after create.
    return JSON.stringify(obj.spec) === JSON.stringify(old.spec) ? [] : [forbidden('spec', 'field is immutable')];
  },
  validateStatus(obj, old) {
    return [...validateConditions(obj), ...validateConditionsKept(obj, old)];
  },
  columns: [
    NAME_COLUMN,
    AGE_COLUMN,
    column('SignerName', 'string', 'Requested signer'),
    column('Requestor', 'string', 'Request originator'),
    column('RequestedDuration', 'string', 'Requested certificate duration'),
    column('Condition', 'string', 'Status of the request'),
  ],
  row(obj, now) {
    const spec = fieldsOf(obj.spec);
    const cs = conditions(obj).map((c) => String(c.type));
    const issued = isObj(obj.status) && typeof obj.status.certificate === 'string' && obj.status.certificate ? ['Issued'] : [];
    const exp = typeof spec.expirationSeconds === 'number' ? duration(spec.expirationSeconds) : '<none>';
    return [obj.metadata.name ?? '', age(obj, now), String(spec.signerName ?? ''), String(spec.username ?? ''), exp, [...cs, ...issued].join(',') || 'Pending'];
  },
};

function duration(s: number): string {
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}
