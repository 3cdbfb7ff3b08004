import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOrg } from "../../src/core/bootstrap.js";
import { Code, failure } from "../helpers/errors.js";
import { type InMemoryTessera, inMemoryTessera } from "../helpers/in-memory.js";
import { agentLogin, ManualClock, newAgent } from "../helpers/lifecycle.js";

describe("session edge cases", () => {
  let t: InMemoryTessera;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock();
    t = await inMemoryTessera(clock.now);
  });
  afterEach(() => t.close());

  it("does not revive a session from before a suspension when the agent is resumed", async () => {
    const agent = await newAgent(t, "a1");
    const login = await agentLogin(t, agent.id);
    const tokens = { accessToken: login.access, refreshToken: login.refresh };
    clock.advance(5);
    await t.admin.suspendAgent({ id: agent.id }, { headers: t.adminHeaders });
    clock.advance(5);
    await t.admin.resumeAgent({ id: agent.id }, { headers: t.adminHeaders });
    clock.advance(5);
    const f = await failure(t.auth.refreshToken({ refreshToken: tokens.refreshToken }));
    expect(f).toMatchObject({ code: Code.Unauthenticated, reason: "TOKEN_REVOKED" });
    const seen = await t.auth.introspectToken(
      { token: tokens.refreshToken },
      { headers: { "x-api-key": t.org.apiKey } },
    );
    expect(seen.active).toBe(false);
  });

  it("leaves the refresh token unused when a refresh is refused", async () => {
    const agent = await newAgent(t, "a2");
    const login = await agentLogin(t, agent.id);
    const tokens = { accessToken: login.access, refreshToken: login.refresh };
    await t.admin.suspendAgent({ id: agent.id }, { headers: t.adminHeaders });
    const f = await failure(t.auth.refreshToken({ refreshToken: tokens.refreshToken }));
    expect(f.reason).toBe("AGENT_SUSPENDED");
    const used = t.store.db
      .prepare<[], { n: number }>("SELECT count(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL")
      .get();
    expect(used?.n).toBe(0);
  });

  it("lets no other org revoke a token", async () => {
    const agent = await newAgent(t, "a3");
    const login = await agentLogin(t, agent.id);
    const tokens = { accessToken: login.access, refreshToken: login.refresh };
    const other = await createOrg(t.store, "other", clock.now());
    for (const token of [tokens.accessToken, tokens.refreshToken]) {
      await t.auth.revokeToken({ token }, { headers: { "x-api-key": other.apiKey } });
    }
    const still = await t.auth.introspectToken(
      { token: tokens.accessToken },
      { headers: { "x-api-key": t.org.apiKey } },
    );
    expect(still.active).toBe(true);
    const refreshed = await t.auth.refreshToken({ refreshToken: tokens.refreshToken });
    expect(refreshed.tokens?.accessToken).toBeTruthy();
  });
});
