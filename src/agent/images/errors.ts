// Errors of image pulls and the image store, each with the kubelet's reason as its code.

export type ImageErrorCode =
  /** The reference does not parse. */
  | 'InvalidImageName'
  /** A pull failed (registry, network, auth, digest, platform); the kubelet's ErrImagePull. */
  | 'ErrImagePull'
  /** Not on the node and the pull policy is Never. */
  | 'ErrImageNeverPull'
  /** The built-in image could not be made on this node. */
  | 'ImageBuildFailed'
  /** An archive to import is not a docker save archive or an OCI layout. */
  | 'ImageImportFailed';

export class ImageError extends Error {
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    readonly image?: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

/** A registry said 401/403 to every credential tried: the next endpoint or credential may do better. */
export class UnauthorizedError extends Error {
  readonly code = 'Unauthorized';
  constructor(message: string) {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

/** The registry has no such manifest or blob (404). */
export class NotFoundError extends Error {
  readonly code = 'NotFound';
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}
