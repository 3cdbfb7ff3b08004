import { createPublicKey, type JsonWebKey } from "node:crypto";
import { type AssertionKey, readAssertion, verifyAssertion } from "../auth/client-assertion.js";
import { parsePublicKey } from "../auth/public-keys.js";
import { digestsEqual, generateSecret, isWellFormedSecret, secretDigest } from "../auth/secrets.js";
import { TesseraError } from "../domain/errors.js";
import { epochSeconds } from "../domain/time.js";
import { AgentCredentialRepository } from "../store/agent-credentials.js";
import type { AgentRecord } from "../store/agents.js";
import type { Db } from "../store/db.js";
import type { SessionEnder, SessionStart } from "./sessions.js";

export interface AgentCredentialDeps {
  readonly db: Db;
  /** Ends an agent's sessions when its secret is replaced or a key of it removed. */
  readonly sessions: SessionEnder;
  /** Tessera's audience: the `aud` a client assertion must carry. */
  readonly audience: string;
  readonly clockToleranceSeconds: number;
  readonly now: () => Date;
}

// Compared against when the agent or its secret is missing, so every refusal costs the same.
const NO_DIGEST = secretDigest("no secret");
// Used assertion ids are swept at most this often, and kept this long past expiry for
// processes whose clocks run behind ours.
const SWEEP_EVERY_SECONDS = 60;
const SWEEP_MARGIN_SECONDS = 300;

/** An agent a credential has just proved, and how a session for it begins. */
export interface AgentLogin {
  readonly agent: AgentRecord;
  readonly start: SessionStart;
}

/** The credential a key's sessions are recorded under. */
const keyCredential = (keyId: string) => `key:${keyId}`;

/**
 * Agent secrets (tas_…, stored as digests) and registered public keys for signed client
 * assertions (RFC 7523 style: iss = sub = agent id, aud = Tessera, exp ≤ 5 minutes, a jti
 * never seen before). A new secret ends the agent's sessions; removing a key ends the
 * sessions that key started.
 */
export class AgentCredentialService {
  private readonly repo: AgentCredentialRepository;
  private lastSweep = 0;

  constructor(private readonly d: AgentCredentialDeps) {
    this.repo = new AgentCredentialRepository(d.db);
  }

  /**
   * A new secret for the agent, shown once; the previous one stops working and every session
   * of the agent ends (whoever held the old secret may hold a session too).
   */
  async createSecret(orgId: string, agentId: string): Promise<string> {
    const secret = generateSecret("agentSecret");
    if (!this.repo.setSecretDigest(orgId, agentId, secretDigest(secret))) throw notFound();
    // Once the new digest has committed: a login racing it stored its session before (ended
    // here) or re-checks the digest after (refused).
    await this.d.sessions.endAllFor(agentId);
    return secret;
  }

  /** The agent whose id and secret these are; throws AGENT_SECRET_INVALID (or AGENT_SUSPENDED). */
  authenticateSecret(agentId: string, secret: string): AgentLogin {
    const refused = new TesseraError("AGENT_SECRET_INVALID", "the agent id or secret is not valid");
    // A typo or a different kind of secret is refused before touching the database.
    if (!isWellFormedSecret("agentSecret", secret)) throw refused;
    const state = this.repo.find(agentId);
    const stored = state?.secretDigest ?? NO_DIGEST;
    if (!digestsEqual(stored, secretDigest(secret)) || !state?.secretDigest) throw refused;
    // Only someone holding the secret learns that the agent is suspended.
    if (state.suspendedAt !== null) throw suspended();
    const digest = state.secretDigest;
    const recheck = () => {
      if (!this.repo.secretIs(agentId, digest)) throw refused;
    };
    return { agent: state.agent, start: { credential: "secret", recheck } };
  }

  /** Registers a public key (PEM SPKI or JWK JSON): Ed25519, or RSA ≥ 2048. */
  registerKey(orgId: string, agentId: string, publicKey: string): { keyId: string; alg: "EdDSA" | "RS256" } {
    if (!this.repo.exists(orgId, agentId)) throw notFound();
    const parsed = parsePublicKey(publicKey);
    const row = {
      id: parsed.thumbprint,
      orgId,
      agentId,
      alg: parsed.alg,
      publicJwk: JSON.stringify(parsed.jwk),
    };
    // A key is unique within its org: one already registered for any of the org's agents is
    // refused (one key speaks for one agent), while another org may register the same key.
    if (!this.repo.insertKey(row, epochSeconds(this.d.now()))) {
      throw new TesseraError("AGENT_KEY_EXISTS", "this key is already registered");
    }
    return { keyId: parsed.thumbprint, alg: parsed.alg };
  }

  /**
   * Removes a registered key; assertions signed with it are refused from now on, and the
   * sessions it started end (with those from before sessions recorded their key).
   */
  async removeKey(orgId: string, agentId: string, keyId: string): Promise<void> {
    if (!this.repo.exists(orgId, agentId)) throw notFound();
    if (!this.repo.deleteKey(agentId, keyId))
      throw new TesseraError("AGENT_KEY_NOT_FOUND", "the agent has no key with this id");
    // Once the removal has committed (see createSecret).
    await this.d.sessions.endAllFor(agentId, keyCredential(keyId));
  }

  /** The agent a client assertion proves; throws ASSERTION_INVALID / ASSERTION_REPLAYED / AGENT_SUSPENDED. */
  async authenticateAssertion(assertion: string): Promise<AgentLogin> {
    const claimed = readAssertion(assertion);
    const state = this.repo.find(claimed.agentId);
    const keys = state ? this.candidateKeys(claimed.agentId, claimed.alg, claimed.kid) : [];
    if (!state || keys.length === 0) {
      throw new TesseraError("ASSERTION_INVALID", "no registered key of the agent matches the assertion");
    }
    const { jti, exp, keyId } = await this.verifyWithAny(assertion, claimed.agentId, keys);
    if (state.suspendedAt !== null) throw suspended();
    // Recorded only now: a forged or refused assertion must not burn the jti it carries.
    this.sweep();
    // The id is per agent (RFC 7523 §3: unique for its issuer), so one agent cannot block
    // another's jti by using it first.
    if (!this.repo.recordAssertion(`${claimed.agentId}:${jti}`, claimed.agentId, exp)) {
      throw new TesseraError("ASSERTION_REPLAYED", "this assertion has already been used");
    }
    const { orgId, id } = state.agent;
    const recheck = () => {
      if (!this.repo.hasKey(orgId, id, keyId))
        throw new TesseraError("ASSERTION_INVALID", "the assertion's key is no longer registered");
    };
    return { agent: state.agent, start: { credential: keyCredential(keyId), recheck } };
  }

  /**
   * Verifies with each candidate in turn, so the key that verified is known (its sessions
   * end when it is removed); every failure is ASSERTION_INVALID, the last one is thrown.
   */
  private async verifyWithAny(
    assertion: string,
    agentId: string,
    keys: readonly (AssertionKey & { id: string })[],
  ): Promise<{ jti: string; exp: number; keyId: string }> {
    const check = {
      audience: this.d.audience,
      clockToleranceSeconds: this.d.clockToleranceSeconds,
      now: this.d.now,
    };
    let failure: unknown;
    for (const key of keys) {
      try {
        return { ...(await verifyAssertion(assertion, agentId, [key], check)), keyId: key.id };
      } catch (err) {
        failure = err;
      }
    }
    throw failure;
  }

  /** The agent's keys the assertion may be verified with: exactly `kid`, or all of its alg. */
  private candidateKeys(
    agentId: string,
    alg: string,
    kid: string | undefined,
  ): (AssertionKey & { id: string })[] {
    const out: (AssertionKey & { id: string })[] = [];
    for (const row of this.repo.keysOf(agentId)) {
      // The algorithm is pinned per key: a header naming another one never reaches jose.
      if (row.alg !== alg || (kid !== undefined && row.id !== kid)) continue;
      const jwk = JSON.parse(row.publicJwk) as JsonWebKey;
      out.push({ id: row.id, key: createPublicKey({ key: jwk, format: "jwk" }), alg: row.alg });
    }
    return out;
  }

  /** Deletes used assertion ids long expired; opportunistic, since the table has no expiry index. */
  private sweep(): void {
    const now = epochSeconds(this.d.now());
    if (now - this.lastSweep < SWEEP_EVERY_SECONDS) return;
    this.lastSweep = now;
    this.repo.sweepAssertions(now - this.d.clockToleranceSeconds - SWEEP_MARGIN_SECONDS);
  }
}

function notFound(): TesseraError {
  return new TesseraError("AGENT_NOT_FOUND", "the org has no agent with this id");
}

function suspended(): TesseraError {
  return new TesseraError("AGENT_SUSPENDED", "the agent is suspended");
}
