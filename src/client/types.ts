// The API as components see it: one Client interface, served in-process by the API server's registry
// (controllers in the server) or over HTTPS (agents, CLI), so every component talks to the API only.
import type { ResourceDef } from '../api/resources.js';
import type { KObject } from '../api/types.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchHandlers {
  onEvent(type: EventType, obj: KObject): void;
  /** The watch ended (410 Gone, connection lost); the caller re-lists. */
  onError(err: Error): void;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export type PatchType = 'merge' | 'strategic' | 'json';

export interface Client {
  get(r: ResourceDef, ns: string | undefined, name: string): Promise<KObject | undefined>;
  list(r: ResourceDef, ns?: string, opts?: ListOptions): Promise<{ items: KObject[]; resourceVersion: string }>;
  watch(r: ResourceDef, ns: string | undefined, resourceVersion: string, handlers: WatchHandlers, opts?: ListOptions): Promise<{ close(): void }>;
  create(r: ResourceDef, ns: string | undefined, obj: KObject): Promise<KObject>;
  /** PUT of the whole object (or its status); obj.metadata.resourceVersion is a precondition when set. */
  update(r: ResourceDef, ns: string | undefined, obj: KObject, subresource?: 'status'): Promise<KObject>;
  patch(r: ResourceDef, ns: string | undefined, name: string, type: PatchType, patch: unknown, subresource?: 'status'): Promise<KObject>;
  delete(r: ResourceDef, ns: string | undefined, name: string, opts?: { gracePeriodSeconds?: number; preconditions?: { uid?: string } }): Promise<void>;
  /** POST pods/NAME/binding. */
  bind(ns: string, pod: string, node: string): Promise<void>;
}

/** An API error as a client sees it: the HTTP code and the Status reason. */
export class ClientError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
    this.name = 'ClientError';
  }
}

export function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown })?.code === 404;
}

export function isConflict(e: unknown): boolean {
  return (e as { code?: unknown })?.code === 409;
}
