// Errors of the patch engines, with the HTTP status and metav1.Status Kubernetes answers for each.

/**
 * BadRequest: the patch document itself is malformed (not the JSON shape its content type requires,
 *   an unknown directive, a badly formed `$setElementOrder`/`$retainKeys` list) → 400.
 * Invalid: a well-formed patch that cannot be applied to this object (JSON-patch `test` failed, a path
 *   that does not exist, lists of lists, content outside `$retainKeys`) → 422.
 * Conflict: server-side apply would change fields another field manager owns → 409.
 */
export type PatchErrorCode = 'BadRequest' | 'Invalid' | 'Conflict';

export const PATCH_ERROR_HTTP_STATUS: Readonly<Record<PatchErrorCode, number>> = { BadRequest: 400, Invalid: 422, Conflict: 409 };

/** One cause as metav1.StatusCause carries it (`reason` is the JSON name of Go's `Type`). */
export interface PatchErrorCause {
  reason: string;
  message: string;
  field?: string;
}

export class PatchError extends Error {
  override readonly name = 'PatchError';

  constructor(
    readonly code: PatchErrorCode,
    message: string,
    readonly causes: PatchErrorCause[] = [],
  ) {
    super(message);
  }

  get httpStatus(): number {
    return PATCH_ERROR_HTTP_STATUS[this.code];
  }

  /**
   * The metav1.Status to answer with. Invalid carries no details unless it has causes, so that kubectl
   * prints "The request is invalid: <message>" instead of an empty kind/name line.
   */
  toStatus(): {
    kind: 'Status';
    apiVersion: 'v1';
    metadata: Record<string, never>;
    status: 'Failure';
    message: string;
    reason: PatchErrorCode;
    code: number;
    details?: { causes: PatchErrorCause[] };
  } {
    const s = {
      kind: 'Status' as const,
      apiVersion: 'v1' as const,
      metadata: {},
      status: 'Failure' as const,
      message: this.message,
      reason: this.code,
      code: this.httpStatus,
    };
    return this.causes.length ? { ...s, details: { causes: this.causes } } : s;
  }
}

export const badRequest = (message: string): PatchError => new PatchError('BadRequest', message);
export const invalid = (message: string): PatchError => new PatchError('Invalid', message);

export function isPatchError(e: unknown): e is PatchError {
  return e instanceof PatchError;
}
