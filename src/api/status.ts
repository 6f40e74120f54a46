// API errors as metav1.Status: one class, with constructors named after the reasons Kubernetes uses.
import type { FieldError } from './types.js';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    return orderedStatus({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details,
      code: this.code,
    });
  }
}

/** A Status with its fields in metav1.Status's declaration order (kind, apiVersion, metadata, status,
 *  message, reason, details, code), details and causes in theirs, and omitempty fields left out:
 *  byte for byte what Go's encoder writes, which some clients compare. */
export function orderedStatus(s: Status): Status {
  const out: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: s.metadata ?? {}, status: s.status };
  if (s.message) out.message = s.message;
  if (s.reason) out.reason = s.reason;
  if (s.details) {
    const d = s.details;
    const details: Record<string, unknown> = {};
    if (d.name) details.name = d.name;
    if (d.group) details.group = d.group;
    if (d.kind) details.kind = d.kind;
    if (d.uid) details.uid = d.uid;
    if (d.causes?.length) {
      details.causes = d.causes.map((c) => {
        const cause: Record<string, unknown> = {};
        if (c.reason) cause.reason = c.reason;
        if (c.message) cause.message = c.message;
        if (c.field) cause.field = c.field;
        return cause;
      });
    }
    if (d.retryAfterSeconds) details.retryAfterSeconds = d.retryAfterSeconds;
    // Go omits an empty details only when the pointer is nil; an all-empty struct is still written.
    out.details = details;
  }
  if (s.code) out.code = s.code;
  return out as unknown as Status;
}

/** The body of a Status response: the ordered document and the newline Go's json.Encoder ends it with. */
export function statusBody(s: Status): string {
  return `${JSON.stringify(orderedStatus(s))}\n`;
}

/** "pods" or "deployments.apps", as Kubernetes qualifies a resource in messages. */
export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  unauthorized: () => new ApiError(401, 'Unauthorized', 'Unauthorized'),
  notFound: (resource: string, group: string, name: string) =>
    new ApiError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group: group || undefined, kind: resource }),
  pathNotFound: () => new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
  methodNotAllowed: (method: string, what: string) =>
    new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method} ${what})`),
  alreadyExists: (resource: string, group: string, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group: group || undefined, kind: resource }),
  conflict: (
    resource: string,
    group: string,
    name: string,
    why = 'the object has been modified; please apply your changes to the latest version and try again',
  ) =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, {
      name,
      group: group || undefined,
      kind: resource,
    }),
  gone: (message: string) => new ApiError(410, 'Expired', message),
  tooLarge: (limit: number) => new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`),
  unsupportedMediaType: (type: string) =>
    new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${JSON.stringify(type)})`,
    ),
  notAcceptable: (message: string) => new ApiError(406, 'NotAcceptable', message),
  invalid: (kind: string, group: string, name: string, errs: FieldError[]) => {
    const list = errs.map((e) => `${e.field}: ${e.message}`);
    const message = `${kind} "${name}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(', ')}]`}`;
    return new ApiError(422, 'Invalid', message, {
      name,
      group: group || undefined,
      kind,
      causes: errs.map((e) => ({ reason: e.type, message: e.message, field: e.field })),
    });
  },
  forbidden: (message: string) => new ApiError(403, 'Forbidden', message),
  internal: (message: string) => new ApiError(500, 'InternalError', `Internal error occurred: ${message}`),
  unavailable: (message: string) => new ApiError(503, 'ServiceUnavailable', message),
  timeout: (message: string) => new ApiError(504, 'Timeout', message),
  requestTimeout: (message: string) => new ApiError(408, 'Timeout', message),
  tooManyRequests: (retryAfterSeconds: number) => new ApiError(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds }),
};

export function successStatus(details?: StatusDetails): Status {
  return orderedStatus({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details });
}
