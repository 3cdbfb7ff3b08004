import type { KeyRing, SigningKeyInfo } from "../auth/key-ring.js";
import type { OrgCredentials } from "../auth/org-credentials.js";
import { generateSecret, newId, secretDigest } from "../auth/secrets.js";
import { TesseraError } from "../domain/errors.js";
import { epochSeconds } from "../domain/time.js";
import type { Async } from "../store/contract/async.js";
import type { TesseraStore } from "../store/contract/store.js";
import type { OperatorRepository, OperatorTokenRow, OrgSummaryRow } from "../store/operators.js";
import type { AccessControl } from "./access.js";
import { createOrg, type NewOrg } from "./bootstrap.js";
import type { CallContext } from "./context.js";

/** How often the operator may do each server-wide write, across every process on the store. */
export const OPERATOR_LIMITS = {
  /** Each rotation adds a key every worker publishes and verifies against. */
  "keys.rotate": { max: 1, windowSeconds: 60 },
  "org.create": { max: 10, windowSeconds: 60 },
} as const;
export type OperatorAction = keyof typeof OPERATOR_LIMITS;

const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$/;

export interface SystemDeps {
  readonly access: AccessControl;
  readonly credentials: OrgCredentials;
  readonly store: TesseraStore;
  readonly keys: KeyRing;
  readonly now: () => Date;
}

/**
 * The server operator's plane: orgs and signing keys, which belong to no org. Every call first
 * proves the operator token (`operator(ctx)`); writes are rate-limited per server.
 */
export class SystemCore {
  constructor(private readonly d: SystemDeps) {}

  /** The id of the caller's operator token, or a refusal (org credentials: PERMISSION_DENIED). */
  operator(ctx: CallContext): Promise<string> {
    return this.d.access.system(ctx);
  }

  private nowSec(): number {
    return epochSeconds(this.d.now());
  }

  /** Counts one `action` by `actor`, or refuses with RESOURCE_EXHAUSTED and writes nothing. */
  private async spend(action: OperatorAction, actor: string): Promise<void> {
    const limit = OPERATOR_LIMITS[action];
    const now = this.nowSec();
    const next = await this.d.store.operators.spend(action, actor, now, limit.windowSeconds, limit.max);
    if (next !== undefined)
      throw new TesseraError(
        "OPERATOR_RATE_LIMITED",
        `at most ${limit.max} ${action} per ${limit.windowSeconds} s; try again later`,
        { action, retryAfterSeconds: String(Math.max(1, next - now)) },
      );
  }

  async listOrgs(): Promise<OrgSummaryRow[]> {
    return this.d.store.operators.orgs();
  }

  /** A new org with its API key and admin token, shown this once. */
  async createOrg(actor: string, name: string): Promise<NewOrg & { org: OrgSummaryRow }> {
    if (!NAME.test(name))
      throw new TesseraError("NAME_MISSING", "an org needs a name of 1-64 letters, digits, spaces or _.:-");
    await this.spend("org.create", actor);
    const now = this.d.now();
    const created = await createOrg(this.d.store, name, now);
    await this.d.credentials.reload(); // usable here at once; elsewhere once the change arrives
    return { ...created, org: { id: created.orgId, name, policyRevision: 0, createdAt: epochSeconds(now) } };
  }

  async listKeys(): Promise<SigningKeyInfo[]> {
    return this.d.keys.list();
  }

  /** Rotates the signing keys (every process reloads them through the change log). */
  async rotateKeys(actor: string): Promise<SigningKeyInfo[]> {
    await this.spend("keys.rotate", actor);
    return this.d.keys.rotate();
  }
}

/** A new operator token: shown once, stored only as its digest. */
export interface IssuedOperatorToken {
  readonly token: string;
  readonly row: OperatorTokenRow;
}

/** Creates an operator token (the CLI does this on the data directory, never over the network). */
export async function issueOperatorToken(
  operators: Async<OperatorRepository>,
  name: string,
  now: Date,
): Promise<IssuedOperatorToken> {
  if (!NAME.test(name))
    throw new TesseraError("NAME_MISSING", "a token needs a name of 1-64 letters, digits, spaces or _.:-");
  const token = generateSecret("operatorToken");
  const row: OperatorTokenRow = {
    id: newId("opt"),
    name,
    digest: secretDigest(token),
    prefix: token.slice(0, 8),
    createdAt: epochSeconds(now),
  };
  await operators.insertToken(row);
  return { token, row };
}
