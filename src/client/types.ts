// The API as components see it: one Client interface, served in-process by the API server's registry
// (controllers in the server) or over HTTPS (agents, CLI), so every component talks to the API only.
// Every method is typed by the resource it is given (`get(PODS, …)` is a Pod: see api/kinds.ts).
import type { ResourceDef } from '../api/resources.js';
import type { KObject } from '../api/types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchHandlers<T extends KObject = KObject> {
  onEvent(type: EventType, obj: T): void;
  /** A BOOKMARK: nothing of this watch changed up to resourceVersion (so a resumed watch may start there). */
  onBookmark?(resourceVersion: string): void;
  /** The watch ended (410 Gone, connection lost); the caller resumes or re-lists. */
  onError(err: Error): void;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
}

export type PatchType = 'merge' | 'strategic' | 'json';

/** Subresources written like the object itself. */
export type WriteSubresource = 'status' | 'finalize' | 'ephemeralcontainers' | 'approval';

export interface Watch {
  close(): void;
}

export interface Client {
  /** The object, or undefined when it does not exist. */
  get<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string): Promise<T | undefined>;
  list<T extends KObject>(r: ResourceDef<T>, ns?: string, opts?: ListOptions): Promise<{ items: T[]; resourceVersion: string }>;
  /** Events after resourceVersion; rejects with a 410 ClientError when that version is too old. */
  watch<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, resourceVersion: string, handlers: WatchHandlers<T>, opts?: ListOptions): Promise<Watch>;
  create<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, obj: T): Promise<T>;
  /** PUT of the whole object (or a subresource); obj.metadata.resourceVersion is a precondition when set. */
  update<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, obj: T, subresource?: WriteSubresource): Promise<T>;
  patch<T extends KObject>(r: ResourceDef<T>, ns: string | undefined, name: string, type: PatchType, patch: unknown, subresource?: 'status'): Promise<T>;
  delete(r: ResourceDef, ns: string | undefined, name: string, opts?: DeleteOptions): Promise<void>;
  /** POST pods/NAME/binding. */
  bind(ns: string, pod: string, node: string): Promise<void>;
}

/** An API error as a client sees it: the HTTP code and the Status reason. */
export class ClientError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** The HTTP code of an API error from either client (ClientError or the registry's ApiError). */
export function errorCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (e: unknown): boolean => errorCode(e) === 404;
export const isConflict = (e: unknown): boolean => errorCode(e) === 409;
export const isGone = (e: unknown): boolean => errorCode(e) === 410;

/** namespace/name, or name for cluster-scoped objects: the key of caches and work queues. */
export function objectKey(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? '');
}

/** The key's namespace and name. */
export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
