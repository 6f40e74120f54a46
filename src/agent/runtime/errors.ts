// Errors of the container runtime, one class per failure mode, each with a stable machine-readable code.

/** An image reference that does not parse, an image not on the node, a built-in image that cannot be made. */
export { ImageError } from '../images/errors.js';
/** The container spec cannot be turned into a runnable container (empty command, bad capability name…). */
export class InvalidSpecError extends Error {
  readonly code = 'InvalidSpec';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSpecError';
  }
}

/** The container's process could not be started; the message is what runc said (Kubernetes reason StartError). */
export class StartError extends Error {
  readonly code = 'StartError';
  constructor(
    readonly containerId: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartError';
  }
}

export class ContainerNotFoundError extends Error {
  readonly code = 'ContainerNotFound';
  constructor(readonly containerId: string) {
    super(`container ${containerId} not found in this runtime`);
    this.name = 'ContainerNotFoundError';
  }
}

export class ContainerNotRunningError extends Error {
  readonly code = 'ContainerNotRunning';
  constructor(
    readonly containerId: string,
    status: string,
  ) {
    super(`container ${containerId} is not running (${status})`);
    this.name = 'ContainerNotRunningError';
  }
}

/** An exec session whose process could not be started (missing executable, bad cwd…). */
export class ExecError extends Error {
  readonly code = 'ExecFailed';
  constructor(
    readonly containerId: string,
    readonly argv: string[],
    message: string,
  ) {
    super(message);
    this.name = 'ExecError';
  }
}

/** The runtime cannot run on this host (missing program, unsupported architecture, unusable state dir). */
export class RuntimeSetupError extends Error {
  readonly code = 'RuntimeSetup';
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeSetupError';
  }
}
