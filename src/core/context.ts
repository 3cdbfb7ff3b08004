import type { PeerIdentity } from "../domain/principal.js";

/** What a handler may know about the call, whichever transport carried it. */
export interface CallContext {
  /** A request header / metadata value (lower-case name), first value only. */
  header(name: string): string | undefined;
  /** The verified mTLS client identity, when the caller presented a certificate. */
  peer(): PeerIdentity | undefined;
  /** The caller's network address (IP, no port), when the transport knows it. */
  remote(): string | undefined;
  /** When the caller stops waiting (ms since the epoch), if it set a deadline. */
  deadline(): number | undefined;
  /** The call's request id (the caller's `x-request-id` when sane, else generated), when the transport gives one. */
  readonly requestId?: string | undefined;
  /** Set once the call's credential has been counted (core/credential-usage.ts): counted once. */
  usageCounted?: boolean;
  /** Set once the admin token beside the call's API key has been counted. */
  adminTokenCounted?: boolean;
}
