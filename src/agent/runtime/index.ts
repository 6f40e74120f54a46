// The node's container runtime, as the agent uses it: images, containers, logs, exec.
export { Runtime, DEFAULT_CONTAINER_LOG, checkContainerLogLimits, type ContainerInfo, type ContainerLogLimits, type RuntimeOptions } from './runtime.js';
export type { ContainerSpec, ContainerState, ContainerStatus, ExecOptions, ExecSession, LogOptions, SecurityContext, VolumeMount } from './runtime.js';
export { BUSYBOX_BINARY, ensureImages, loadImage, resolveImage, type ImageConfig, type ImageRecord } from './images.js';
export { ContainerNotFoundError, ContainerNotRunningError, ExecError, ImageError, InvalidSpecError, RuntimeSetupError, StartError } from './errors.js';
export { DEFAULT_CAPABILITIES } from './spec.js';
