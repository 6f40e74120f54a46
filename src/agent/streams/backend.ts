// What the agent's container runtime provides to the pod stream handlers: exec/attach processes, pod
// port connections and log readers, independent of how containers are run.
import type { Duplex, Readable, Writable } from 'node:stream';

/** The pod a stream request is for. `uid` appears in port-forward error texts, as the kubelet writes them. */
export interface PodRef {
  namespace: string;
  name: string;
  uid?: string;
}

export interface ExecOptions {
  /** A pty: stdout carries everything, stderr is null, `resize` applies. */
  tty: boolean;
  /** The client sends stdin; when false the backend may return a null stdin. */
  stdin: boolean;
}

/** A process running in a container (exec) or a connection to a container's main process (attach). */
export interface ExecProcess {
  stdin: Writable | null;
  /** Must keep its data until read: the session may start reading after the process has exited
   *  (a SPDY client opens its streams only after the upgrade). */
  stdout: Readable;
  /** Null with a tty: the pty merges stderr into stdout. */
  stderr: Readable | null;
  /** Terminal size in columns and rows; a no-op without a tty. */
  resize(width: number, height: number): void;
  /** The exit status (0–255); rejects when the process could not be waited for. For attach, settles when
   *  the attachment ends (the container's main process exited or the runtime closed it). */
  exitCode: Promise<number>;
  /** Ends the process (exec) or the attachment (attach); called when the client goes away. */
  kill(): void;
}

export interface ExecBackend {
  /** Starts `argv` in the container. Rejects with a StreamBackendError: ContainerNotFound,
   *  ContainerNotRunning (answered before the upgrade) or CommandNotFound (reported in-stream). */
  exec(pod: PodRef, container: string, argv: string[], opts: ExecOptions): Promise<ExecProcess>;
  /** Attaches to the container's main process; the same errors as exec except CommandNotFound. */
  attach?(pod: PodRef, container: string, opts: ExecOptions): Promise<ExecProcess>;
}

export interface PortForwardBackend {
  /** A TCP connection to `port` inside the pod's network namespace. Rejects (any error) when it cannot
   *  connect; the message is shown to the kubectl user. */
  connect(pod: PodRef, port: number): Promise<Duplex>;
}

export interface LogOptions {
  follow: boolean;
  /** Only the last N lines. */
  tailLines?: number;
  /** Stop after this many bytes. */
  limitBytes?: number;
  /** Prefix each line with its RFC 3339 nano timestamp and a space (see formatLogTimestamp). */
  timestamps: boolean;
  /** Only lines newer than this many seconds… */
  sinceSeconds?: number;
  /** …or newer than this time (RFC 3339); never both. */
  sinceTime?: Date;
  /** The previous, terminated instance of the container. */
  previous: boolean;
}

export interface LogBackend {
  /** The container's log bytes as the options select them; with `follow` the stream stays open and
   *  grows until the container stops or the reader is destroyed. */
  open(pod: PodRef, container: string, opts: LogOptions): Readable | Promise<Readable>;
}

export interface StreamBackends {
  exec?: ExecBackend;
  portForward?: PortForwardBackend;
  logs?: LogBackend;
}

export type StreamBackendErrorCode = 'ContainerNotFound' | 'ContainerNotRunning' | 'CommandNotFound' | 'Unsupported';

/** The typed failures a backend reports; the handlers turn them into what kubectl expects. */
export class StreamBackendError extends Error {
  constructor(
    readonly code: StreamBackendErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StreamBackendError';
  }
}
