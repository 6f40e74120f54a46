// Who a request runs as and what it asks to do: the user authentication (or impersonation) established and
// the attributes authorization decides on, as kube-apiserver's user.Info and authorizer.Attributes carry
// them. Shared by the API server, the controllers that ask authorization questions (the CSR approver) and
// the strategies that record the requester (CSR spec.username), so it lives in the leaf package.
import { AsyncLocalStorage } from 'node:async_hooks';

/** Who is asking: what authentication (or impersonation) established. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface Attributes {
  user: UserInfo;
  verb: string;
  /** A resource request (/api, /apis); otherwise `path` is what is asked for. */
  resourceRequest: boolean;
  path: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

/** The user a request runs as, carried through the async work it does (registry hooks and strategies read
 *  it). Writes with no user here come from the server's own in-process components, which run with
 *  `undefined` as the store (`run(undefined, f)`), never through `exit`: on Node 20 `exit` disables the
 *  storage for the call and enables it again, which takes V8's promise hooks off and puts them back each
 *  time, on every in-process call. */
export const requestUser = new AsyncLocalStorage<UserInfo | undefined>();
