// The user a request runs as, carried through the async work it does (registry hooks read it for the
// escalation check). Writes with no user here come from the server's own in-process components.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { UserInfo } from './attributes.js';

export const requestUser = new AsyncLocalStorage<UserInfo>();
