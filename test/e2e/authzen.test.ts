import { readFileSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDevCa, type DevCa, type PemPair } from "../../src/auth/dev-certs.js";
import { databasePath } from "../../src/store/db.js";
import { adminHeaders } from "../helpers/e2e.js";
import { createOperatorToken, startTestServer, type TestServer, tempDir } from "../helpers/server.js";

/*
 * Issue #12: the OpenID AuthZEN Authorization API 1.0 on the HTTP port, over real HTTP against a
 * real server. Assertions are on status codes, reasons and decisions, never on messages.
 */

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

interface TodoCase {
  readonly request: {
    readonly subject: { type: string; id: string };
    readonly action: { name: string };
    readonly resource: Record<string, unknown>;
  };
  readonly expected: boolean;
}

const TODO_POLICY = readFileSync("examples/authzen-todo/policy.yaml", "utf8");
const TODO_USERS = (
  JSON.parse(readFileSync("examples/authzen-todo/users.json", "utf8")) as {
    users: Record<string, { roles: string[] }>;
  }
).users;
const TODO_CASES = (
  JSON.parse(readFileSync("test/fixtures/authzen-todo-decisions.json", "utf8")) as { evaluation: TodoCase[] }
).evaluation;

const B_POLICY = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: b-only }
spec:
  rules:
    - { name: everything, scopes: ["*"], effect: allow, roles: [operator] }
`;

/** A Todo user with the roles the PEP knows them by. */
const todoUser = (id: string) => ({
  type: "user",
  id,
  properties: { roles: TODO_USERS[id]?.roles ?? [] },
});

describe("AuthZEN Authorization API on the HTTP port", () => {
  let server: TestServer;
  let base: string;
  let pep: Record<string, string>;
  let agentA: string;
  let agentB: string;
  let evaluateKey: string;
  let readKey: string;
  let bKey: string;

  async function call(
    path: string,
    body: unknown,
    headers: Record<string, string> = pep,
    method = "POST",
  ): Promise<Reply> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      ...(method === "GET" ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  async function connect(path: string, body: unknown, headers: Record<string, string>) {
    const r = await call(`/${path}`, body, headers);
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  beforeAll(async () => {
    server = await startTestServer();
    base = `http://127.0.0.1:${server.httpPort}`;
    pep = { "x-api-key": server.org.apiKey };
    const admin = adminHeaders(server.org);
    await connect("tessera.v1.AdminService/PutPolicy", { document: TODO_POLICY }, admin);
    const a = await connect(
      "tessera.v1.AdminService/CreateAgent",
      { name: "scout", tier: "TIER_VERIFIED", roles: ["operator"] },
      admin,
    );
    agentA = (a.agent as { id: string }).id;
    evaluateKey = (
      await connect(
        "tessera.v1.AdminService/CreateApiKey",
        { name: "pep", scopes: ["decisions:evaluate"] },
        admin,
      )
    ).apiKey as string;
    readKey = (
      await connect(
        "tessera.v1.AdminService/CreateApiKey",
        { name: "reader", scopes: ["policies:read"] },
        admin,
      )
    ).apiKey as string;
    // Org B: its own policy and agent, which org A's PEP must never see.
    const operator = { "x-operator-token": await createOperatorToken(server.dataDir) };
    const b = await connect("tessera.v1.SystemService/CreateOrg", { name: "org-b" }, operator);
    const bAdmin = { "x-api-key": b.apiKey as string, "x-admin-token": b.adminToken as string };
    bKey = b.apiKey as string;
    await connect("tessera.v1.AdminService/PutPolicy", { document: B_POLICY }, bAdmin);
    const bAgent = await connect(
      "tessera.v1.AdminService/CreateAgent",
      { name: "b-admin", tier: "TIER_PRIVILEGED", roles: ["operator"] },
      bAdmin,
    );
    agentB = (bAgent.agent as { id: string }).id;
    await connect(
      "tessera.v1.AdminService/CreateUser",
      { username: "boss@b.example", password: "correct horse battery", role: "admin" },
      bAdmin,
    );
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  const propose = (subject: object) => ({
    subject,
    action: { name: "governance:propose" },
    resource: { type: "tool", id: "t1", properties: { env: "staging" } },
  });

  describe("POST /access/v1/evaluation", () => {
    it("allows a stored agent of the caller's org, on its stored tier and roles", async () => {
      const r = await call("/access/v1/evaluation", propose({ type: "agent", id: agentA }));
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.body.decision).toBe(true);
      expect(r.body.context).toMatchObject({ reason: "ALLOWED_BY_RULE", rule: "example/propose" });
    });

    it("denies with HTTP 200 and decision false (a deny is data)", async () => {
      const r = await call(
        "/access/v1/evaluation",
        propose({ type: "user", id: "u1", properties: { roles: ["viewer"] } }),
      );
      expect(r.status).toBe(200);
      expect(r.body.decision).toBe(false);
      expect(r.body.context).toMatchObject({ reason: "NO_MATCHING_RULE" });
    });

    it("takes the subject's tier, roles and other properties from properties when it is no stored agent", async () => {
      const subject = {
        type: "service",
        id: "svc",
        properties: { tier: "verified", roles: ["operator"], team: "x" },
      };
      expect((await call("/access/v1/evaluation", propose(subject))).body.decision).toBe(true);
      const low = { ...subject, properties: { tier: "unverified", roles: ["operator"] } };
      expect((await call("/access/v1/evaluation", propose(low))).body.decision).toBe(false);
    });

    it("never lets properties raise a stored agent's tier or roles", async () => {
      const viewer = await connect(
        "tessera.v1.AdminService/CreateAgent",
        { name: "lowly", tier: "TIER_UNVERIFIED", roles: ["viewer"] },
        adminHeaders(server.org),
      );
      const id = (viewer.agent as { id: string }).id;
      const r = await call(
        "/access/v1/evaluation",
        propose({ type: "agent", id, properties: { tier: "privileged", roles: ["operator"] } }),
      );
      expect(r.body.decision).toBe(false);
    });

    it("echoes X-Request-ID, on answers and refusals", async () => {
      const ok = await call("/access/v1/evaluation", propose({ type: "agent", id: agentA }), {
        ...pep,
        "x-request-id": "req-123",
      });
      expect(ok.headers.get("x-request-id")).toBe("req-123");
      const refused = await call("/access/v1/evaluation", "{", { ...pep, "x-request-id": "req-456" });
      expect(refused.status).toBe(400);
      expect(refused.headers.get("x-request-id")).toBe("req-456");
    });

    it("ignores unknown fields (forward compatibility)", async () => {
      const r = await call("/access/v1/evaluation", {
        ...propose({ type: "agent", id: agentA }),
        foo: { bar: 1 },
      });
      expect(r.body.decision).toBe(true);
    });
  });

  describe("refusals: HTTP status and reason, JSON body", () => {
    // Built before beforeAll runs: the subject is described, not a stored agent.
    const good = () =>
      propose({ type: "service", id: "svc", properties: { tier: "verified", roles: ["operator"] } });
    const cases: [string, unknown, number, string][] = [
      ["malformed JSON", '{"subject":', 400, "REQUEST_MALFORMED"],
      ["an empty body", "", 400, "REQUEST_MALFORMED"],
      ["a JSON array", "[]", 400, "REQUEST_MALFORMED"],
      ["no subject", { action: { name: "a:b" }, resource: { type: "t", id: "1" } }, 400, "REQUEST_MALFORMED"],
      [
        "no action",
        { subject: { type: "user", id: "u" }, resource: { type: "t", id: "1" } },
        400,
        "REQUEST_MALFORMED",
      ],
      [
        "no resource",
        { subject: { type: "user", id: "u" }, action: { name: "a:b" } },
        400,
        "REQUEST_MALFORMED",
      ],
      ["subject without type", { ...good(), subject: { id: "u" } }, 400, "REQUEST_MALFORMED"],
      ["subject without id", { ...good(), subject: { type: "user" } }, 400, "REQUEST_MALFORMED"],
      ["action without name", { ...good(), action: {} }, 400, "REQUEST_MALFORMED"],
      ["resource without id", { ...good(), resource: { type: "tool" } }, 400, "REQUEST_MALFORMED"],
      ["subject as a string", { ...good(), subject: "alice" }, 400, "REQUEST_MALFORMED"],
      ["action.name as a number", { ...good(), action: { name: 123 } }, 400, "REQUEST_MALFORMED"],
      ["context as a list", { ...good(), context: [] }, 400, "REQUEST_MALFORMED"],
      [
        "roles not strings",
        { ...good(), subject: { type: "u", id: "u", properties: { roles: [1] } } },
        400,
        "REQUEST_MALFORMED",
      ],
      [
        "an unknown tier",
        { ...good(), subject: { type: "u", id: "u", properties: { tier: "god" } } },
        400,
        "TIER_INVALID",
      ],
      ["an action that is no scope", { ...good(), action: { name: "Bad Name" } }, 400, "SCOPE_INVALID"],
      [
        "a subject id over 256 bytes",
        { ...good(), subject: { type: "u", id: "x".repeat(257) } },
        400,
        "FIELD_TOO_LARGE",
      ],
      [
        "a resource type over 128 bytes",
        { ...good(), resource: { type: "x".repeat(129), id: "1" } },
        400,
        "FIELD_TOO_LARGE",
      ],
      [
        "context nested 9 deep",
        { ...good(), context: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } },
        400,
        "FIELD_TOO_LARGE",
      ],
    ];

    it.each(cases)("%s → %s %s", async (_name, body, status, reason) => {
      const r = await call("/access/v1/evaluation", body);
      expect({ status: r.status, reason: r.body.reason }).toEqual({ status, reason });
      expect(typeof r.body.error).toBe("string");
    });

    it("a body over the message bound → 413 REQUEST_TOO_LARGE", async () => {
      const big = { ...good(), context: { pad: "x".repeat(70 * 1024) } };
      const r = await call("/access/v1/evaluation", big);
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 413,
        reason: "REQUEST_TOO_LARGE",
      });
    });

    it("a body not sent as application/json → 400", async () => {
      const r = await call("/access/v1/evaluation", good(), { ...pep, "content-type": "text/plain" });
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 400,
        reason: "REQUEST_MALFORMED",
      });
    });

    it("a GET on an evaluation endpoint → 405", async () => {
      const r = await call("/access/v1/evaluation", undefined, pep, "GET");
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 405,
        reason: "METHOD_NOT_ALLOWED",
      });
      expect(r.headers.get("allow")).toBe("POST");
    });

    it("no credential → 401 CALLER_UNIDENTIFIED, with a JSON body", async () => {
      const r = await call("/access/v1/evaluation", good(), {});
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 401,
        reason: "CALLER_UNIDENTIFIED",
      });
    });

    it("an unknown API key → 401 API_KEY_UNKNOWN", async () => {
      const r = await call("/access/v1/evaluation", good(), {
        "x-api-key": `${server.org.apiKey.slice(0, -6)}AAAAAA`,
      });
      expect(r.status).toBe(401);
      expect(["API_KEY_UNKNOWN", "API_KEY_MALFORMED"]).toContain(r.body.reason);
    });

    it("a scoped key with decisions:evaluate may ask; one without it is 403 API_KEY_SCOPE_MISSING", async () => {
      const ok = await call("/access/v1/evaluation", good(), { "x-api-key": evaluateKey });
      expect({ status: ok.status, decision: ok.body.decision }).toEqual({ status: 200, decision: true });
      const refused = await call("/access/v1/evaluation", good(), { "x-api-key": readKey });
      expect({ status: refused.status, reason: refused.body.reason }).toEqual({
        status: 403,
        reason: "API_KEY_SCOPE_MISSING",
      });
    });

    it("the API key may also come as a bearer token", async () => {
      const r = await call("/access/v1/evaluation", good(), { authorization: `Bearer ${evaluateKey}` });
      expect(r.body.decision).toBe(true);
    });

    it("a bearer that is no API key (an agent's JWT, a user session) is no PEP credential → 401", async () => {
      const r = await call("/access/v1/evaluation", good(), {
        authorization: "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln",
      });
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 401,
        reason: "CALLER_UNIDENTIFIED",
      });
    });
  });

  it("resolves a user of the caller's org by username: its role and tier verified, properties ignored", async () => {
    await connect(
      "tessera.v1.AdminService/CreateUser",
      { username: "ann@a.example", password: "correct horse battery", role: "viewer" },
      adminHeaders(server.org),
    );
    const ask = (name: string) =>
      call("/access/v1/evaluation", {
        subject: { type: "user", id: "Ann@a.example", properties: { roles: ["admin"], tier: "privileged" } },
        action: { name },
        resource: { type: "report", id: "r1" },
      });
    expect((await ask("governance:read")).body.decision).toBe(true);
    expect((await ask("audit:read")).body.decision).toBe(false);
  });

  describe("tenant isolation", () => {
    it("org A's key cannot resolve org B's user by username", async () => {
      const r = await call("/access/v1/evaluation", {
        subject: { type: "user", id: "boss@b.example" },
        action: { name: "audit:read" },
        resource: { type: "report", id: "r1" },
      });
      expect(r.body.decision).toBe(false);
      // …while B's own key resolves it (an admin: B's policy allows operators everything).
      const b = await call(
        "/access/v1/evaluation",
        {
          subject: { type: "user", id: "boss@b.example" },
          action: { name: "audit:read" },
          resource: { type: "report", id: "r1" },
        },
        { "x-api-key": bKey },
      );
      expect(b.body.decision).toBe(true);
    });

    it("org A's key cannot resolve org B's agent by id: it is an unknown subject under A's policies", async () => {
      // B's agent is privileged and an operator, and B's policy allows it everything.
      const r = await call("/access/v1/evaluation", {
        subject: { type: "agent", id: agentB },
        action: { name: "governance:propose" },
        resource: { type: "tool", id: "t1" },
      });
      expect(r.status).toBe(200);
      expect(r.body.decision).toBe(false);
      expect(r.body.context).toMatchObject({ reason: "NO_MATCHING_RULE" });
    });

    it("org B's key decides under B's policies, whatever the request body says", async () => {
      const r = await call(
        "/access/v1/evaluation",
        {
          subject: { type: "agent", id: agentB },
          action: { name: "b:thing" },
          resource: { type: "x", id: "1" },
          org: "A",
        },
        { "x-api-key": bKey },
      );
      expect(r.body.decision).toBe(true);
      // …and cannot see A's agent either.
      const a = await call(
        "/access/v1/evaluation",
        {
          subject: { type: "agent", id: agentA },
          action: { name: "b:thing" },
          resource: { type: "x", id: "1" },
        },
        { "x-api-key": bKey },
      );
      expect(a.body.decision).toBe(false);
    });
  });

  describe("POST /access/v1/evaluations", () => {
    const rick = () => todoUser("rick@the-citadel.com");
    const beth = () => todoUser("beth@the-smiths.com");
    const todo = { type: "todo", id: "t1" };

    it("applies top-level defaults to each item and keeps the order", async () => {
      const r = await call("/access/v1/evaluations", {
        subject: beth(),
        resource: todo,
        evaluations: [
          { action: { name: "can_read_todos" } },
          { action: { name: "can_create_todo" } },
          { subject: rick(), action: { name: "can_create_todo" } },
        ],
      });
      expect(r.status).toBe(200);
      expect((r.body.evaluations as { decision: boolean }[]).map((e) => e.decision)).toEqual([
        true,
        false,
        true,
      ]);
    });

    it("merges a partial item entity with the default's required identifiers", async () => {
      const r = await call("/access/v1/evaluations", {
        subject: beth(),
        action: { name: "can_read_todos" },
        resource: { type: "todo" },
        evaluations: [{ resource: { id: "a" } }],
      });
      expect((r.body.evaluations as { decision: boolean }[]).map((e) => e.decision)).toEqual([true]);
    });

    const three = (semantic?: string) => ({
      subject: beth(),
      resource: todo,
      ...(semantic ? { options: { evaluations_semantic: semantic } } : {}),
      evaluations: [
        { action: { name: "can_read_todos" } },
        { action: { name: "can_create_todo" } },
        { action: { name: "can_read_todos" } },
      ],
    });
    const decisions = (r: Reply) => (r.body.evaluations as { decision: boolean }[]).map((e) => e.decision);

    it.each([
      [undefined, [true, false, true]],
      ["execute_all", [true, false, true]],
      ["deny_on_first_deny", [true, false]],
      ["permit_on_first_permit", [true]],
    ])("evaluations_semantic %s → %j", async (semantic, expected) => {
      expect(decisions(await call("/access/v1/evaluations", three(semantic)))).toEqual(expected);
    });

    it("an unknown semantic is 400 ENUM_VALUE_UNKNOWN", async () => {
      const r = await call("/access/v1/evaluations", three("all_of_them"));
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 400,
        reason: "ENUM_VALUE_UNKNOWN",
      });
    });

    it("a bad item fails alone: decision false with its reason, the others decided", async () => {
      const r = await call("/access/v1/evaluations", {
        subject: beth(),
        action: { name: "can_read_todos" },
        evaluations: [{ resource: todo }, {}, { resource: { type: "todo", id: 7 } }, { resource: todo }],
      });
      expect(r.status).toBe(200);
      const items = r.body.evaluations as { decision: boolean; context: { reason: string } }[];
      expect(items.map((e) => [e.decision, e.context.reason])).toEqual([
        [true, "ALLOWED_BY_RULE"],
        [false, "REQUEST_MALFORMED"],
        [false, "REQUEST_MALFORMED"],
        [true, "ALLOWED_BY_RULE"],
      ]);
    });

    it("a bad item is a deny for deny_on_first_deny", async () => {
      const r = await call("/access/v1/evaluations", {
        subject: beth(),
        action: { name: "can_read_todos" },
        options: { evaluations_semantic: "deny_on_first_deny" },
        evaluations: [{ resource: todo }, {}, { resource: todo }],
      });
      expect(decisions(r)).toEqual([true, false]);
    });

    it("no evaluations (or an empty list) is one Access Evaluation", async () => {
      for (const evaluations of [undefined, []]) {
        const r = await call("/access/v1/evaluations", {
          subject: beth(),
          action: { name: "can_read_todos" },
          resource: todo,
          evaluations,
        });
        expect(r.body.decision).toBe(true);
        expect(r.body.evaluations).toBeUndefined();
      }
    });

    it("more than 100 evaluations → 400 BATCH_TOO_LARGE", async () => {
      const r = await call("/access/v1/evaluations", {
        subject: beth(),
        action: { name: "can_read_todos" },
        evaluations: Array.from({ length: 101 }, (_, i) => ({ resource: { type: "todo", id: String(i) } })),
      });
      expect({ status: r.status, reason: r.body.reason }).toEqual({ status: 400, reason: "BATCH_TOO_LARGE" });
    });

    it("no credential → 401, not a list of item errors", async () => {
      const r = await call("/access/v1/evaluations", three(), {});
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 401,
        reason: "CALLER_UNIDENTIFIED",
      });
    });
  });

  describe("POST /access/v1/search/action", () => {
    it("lists the actions the subject may take on the resource", async () => {
      const r = await call("/access/v1/search/action", {
        subject: todoUser("morty@the-citadel.com"),
        resource: { type: "todo", id: "t1", properties: { ownerID: "morty@the-citadel.com" } },
      });
      expect(r.status).toBe(200);
      const names = (r.body.results as { name: string }[]).map((x) => x.name).sort();
      // A verb of the resource's type is named as such; any other scope by itself (the example
      // policy's governance:read rule applies to any resource, and morty is a viewer too).
      expect(names).toEqual([
        "can_create_todo",
        "can_delete_todo",
        "can_read_todos",
        "can_update_todo",
        "governance:read",
      ]);
    });

    it("is empty for a subject that may do nothing", async () => {
      const r = await call("/access/v1/search/action", {
        subject: { type: "user", id: "nobody" },
        resource: { type: "todo", id: "t1" },
      });
      expect(r.body.results).toEqual([]);
    });

    it("needs a resource → 400", async () => {
      const r = await call("/access/v1/search/action", { subject: { type: "user", id: "u" } });
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 400,
        reason: "REQUEST_MALFORMED",
      });
    });
  });

  describe("POST /access/v1/search/subject", () => {
    const search = (subjectType: string, page?: object) => ({
      subject: { type: subjectType },
      action: { name: "governance:propose" },
      resource: { type: "tool", id: "t1", properties: { env: "staging" } },
      ...(page ? { page } : {}),
    });
    const ids = (r: Reply) => (r.body.results as { type: string; id: string }[]).map((x) => x.id);

    it("lists the caller's org's agents that may, and never another org's", async () => {
      const r = await call("/access/v1/search/subject", search("agent"));
      expect(r.status).toBe(200);
      expect(ids(r)).toEqual([agentA]);
      expect(r.body.page).toEqual({ next_token: "" });
      const b = await call("/access/v1/search/subject", search("agent"), { "x-api-key": bKey });
      expect(ids(b)).toEqual([agentB]);
    });

    it("pages: next_token until the end", async () => {
      const seen: string[] = [];
      let token: string | undefined;
      for (let i = 0; i < 10; i++) {
        const r = await call(
          "/access/v1/search/subject",
          search("agent", { limit: 1, ...(token ? { token } : {}) }),
        );
        seen.push(...ids(r));
        token = (r.body.page as { next_token: string }).next_token;
        if (!token) break;
      }
      expect(token).toBe("");
      expect(seen).toEqual([agentA]);
    });

    it("is empty for a type Tessera stores no subjects of", async () => {
      const r = await call("/access/v1/search/subject", search("spaceship"));
      expect({ status: r.status, results: r.body.results }).toEqual({ status: 200, results: [] });
    });

    it("needs an action → 400", async () => {
      const r = await call("/access/v1/search/subject", {
        subject: { type: "agent" },
        resource: { type: "tool", id: "t1" },
      });
      expect({ status: r.status, reason: r.body.reason }).toEqual({
        status: 400,
        reason: "REQUEST_MALFORMED",
      });
    });
  });

  it("writes each decision to the decision log, with the PEP as the caller", async () => {
    const r = await call("/access/v1/evaluation", propose({ type: "agent", id: agentA }), {
      "x-api-key": evaluateKey,
    });
    const id = (r.body.context as { decision_id: string }).decision_id;
    const db = new Database(databasePath(server.dataDir), { readonly: true });
    try {
      await vi.waitFor(
        () => {
          const row = db
            .prepare<[string], { caller: string; subject_id: string; scope: string; allowed: number }>(
              "SELECT caller, subject_id, scope, allowed FROM decision_log WHERE id = ?",
            )
            .get(id);
          expect(row).toMatchObject({ subject_id: agentA, scope: "governance:propose", allowed: 1 });
          expect(row?.caller).toMatch(/^api_key:/);
        },
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      db.close();
    }
  });

  it("a refusal writes nothing: after refusals, one decision adds exactly one row", async () => {
    const db = new Database(databasePath(server.dataDir), { readonly: true });
    const count = () => db.prepare<[], { n: number }>("SELECT count(*) AS n FROM decision_log").get()?.n ?? 0;
    try {
      const marker = await call("/access/v1/evaluation", propose({ type: "agent", id: agentA }));
      const markerId = (marker.body.context as { decision_id: string }).decision_id;
      const logged = (id: string) =>
        db.prepare("SELECT 1 FROM decision_log WHERE id = ?").get(id) !== undefined;
      await vi.waitFor(() => expect(logged(markerId)).toBe(true), { timeout: 10_000, interval: 100 });
      const before = count();
      const good = propose({ type: "agent", id: agentA });
      const refusals = [
        await call("/access/v1/evaluation", "{"),
        await call("/access/v1/evaluation", good, {}),
        await call("/access/v1/evaluation", good, { "x-api-key": readKey }),
        await call("/access/v1/evaluation", { ...good, action: { name: "Bad Name" } }),
        await call("/access/v1/evaluations", {
          ...good,
          evaluations: Array.from({ length: 101 }, () => ({})),
        }),
      ];
      expect(refusals.map((r) => r.status)).toEqual([400, 401, 403, 400, 400]);
      const last = await call("/access/v1/evaluation", good);
      const lastId = (last.body.context as { decision_id: string }).decision_id;
      await vi.waitFor(() => expect(logged(lastId)).toBe(true), { timeout: 10_000, interval: 100 });
      expect(count()).toBe(before + 1);
    } finally {
      db.close();
    }
  });

  it("a suspended agent is denied (decision false, AGENT_SUSPENDED), never decided by its roles", async () => {
    const admin = adminHeaders(server.org);
    const created = await connect(
      "tessera.v1.AdminService/CreateAgent",
      { name: "sleeper", tier: "TIER_VERIFIED", roles: ["operator"] },
      admin,
    );
    const id = (created.agent as { id: string }).id;
    await connect("tessera.v1.AdminService/SuspendAgent", { id }, admin);
    const one = await call("/access/v1/evaluation", propose({ type: "agent", id }));
    expect({ status: one.status, decision: one.body.decision }).toEqual({ status: 200, decision: false });
    expect(one.body.context).toMatchObject({ reason: "AGENT_SUSPENDED" });
    const batch = await call("/access/v1/evaluations", {
      ...propose({ type: "agent", id: agentA }),
      evaluations: [{}, { subject: { type: "agent", id } }],
    });
    const items = batch.body.evaluations as { decision: boolean; context: { reason: string } }[];
    expect(items.map((e) => [e.decision, e.context.reason])).toEqual([
      [true, "ALLOWED_BY_RULE"],
      [false, "AGENT_SUSPENDED"],
    ]);
  });

  it("GET /.well-known/authzen-configuration names the endpoints served", async () => {
    const r = await call("/.well-known/authzen-configuration", undefined, {}, "GET");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
      search_subject_endpoint: `${base}/access/v1/search/subject`,
      search_action_endpoint: `${base}/access/v1/search/action`,
    });
  });

  describe("the AuthZEN interop Todo decisions", () => {
    it("loads its cases", () => {
      expect(TODO_CASES.length).toBeGreaterThanOrEqual(40);
    });

    it.each(
      TODO_CASES.map((c) => [c.request.subject.id, c.request.action.name, c.request.resource, c] as const),
    )("%s %s %j", async (_s, _a, _r, c) => {
      const request = { ...c.request, subject: todoUser(c.request.subject.id) };
      const r = await call("/access/v1/evaluation", request);
      expect(r.status).toBe(200);
      expect(r.body.decision).toBe(c.expected);
    });

    it("decides the whole table in one batch, in order", async () => {
      const r = await call("/access/v1/evaluations", {
        evaluations: TODO_CASES.slice(0, 40).map((c) => ({
          ...c.request,
          subject: todoUser(c.request.subject.id),
        })),
      });
      expect((r.body.evaluations as { decision: boolean }[]).map((e) => e.decision)).toEqual(
        TODO_CASES.slice(0, 40).map((c) => c.expected),
      );
    });
  });
});

describe("AuthZEN over HTTPS: an mTLS identity bound to an org is a PEP credential", () => {
  const GATEWAY = "spiffe://tessera.local/gateway";
  let ca: DevCa;
  let tmp: ReturnType<typeof tempDir>;
  let server: TestServer;

  /** One HTTP/1.1 request over TLS (no keep-alive), presenting `client` if given. */
  function httpsCall(path: string, body: unknown, headers: Record<string, string>, client?: PemPair) {
    return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          port: server.httpPort,
          path,
          method: body === undefined ? "GET" : "POST",
          headers: { "content-type": "application/json", ...headers },
          ca: ca.cert,
          servername: "localhost",
          agent: false,
          ...(client ? { cert: client.cert, key: client.key } : {}),
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
          );
        },
      );
      req.on("error", reject);
      req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  beforeAll(async () => {
    tmp = tempDir("tessera-authzen-mtls-");
    ca = await createDevCa();
    const pair = await ca.issueServer();
    const files = { "ca.pem": ca.cert, "server.pem": pair.cert, "server-key.pem": pair.key };
    for (const [name, pem] of Object.entries(files)) writeFileSync(join(tmp.dir, name), pem);
    server = await startTestServer({
      tlsCert: join(tmp.dir, "server.pem"),
      tlsKey: join(tmp.dir, "server-key.pem"),
      tlsClientCa: join(tmp.dir, "ca.pem"),
    });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    tmp?.cleanup();
  });

  it("decides for the bound org with no API key; an unbound certificate is 401", async () => {
    const gateway = await ca.issueClient({ commonName: "gateway", spiffeId: GATEWAY });
    const question = {
      subject: { type: "service", id: "svc", properties: { tier: "verified", roles: ["operator"] } },
      action: { name: "governance:propose" },
      resource: { type: "tool", id: "t1", properties: { env: "staging" } },
    };
    const before = await httpsCall("/access/v1/evaluation", question, {}, gateway);
    expect({ status: before.status, reason: before.body.reason }).toEqual({
      status: 401,
      reason: "CALLER_UNIDENTIFIED",
    });
    const operator = { "x-operator-token": await createOperatorToken(server.dataDir) };
    const assigned = await httpsCall(
      "/tessera.v1.SystemService/AssignIdentityNamespace",
      { orgId: server.org.orgId, namespace: "spiffe://tessera.local/" },
      operator,
    );
    expect(assigned.status).toBe(200);
    const bound = await httpsCall(
      "/tessera.v1.AdminService/BindServiceIdentity",
      { identity: GATEWAY },
      adminHeaders(server.org),
    );
    expect(bound.status).toBe(200);
    const after = await httpsCall("/access/v1/evaluation", question, {}, gateway);
    expect({ status: after.status, decision: after.body.decision }).toEqual({ status: 200, decision: true });
    const config = await httpsCall("/.well-known/authzen-configuration", undefined, {});
    expect(config.body.policy_decision_point).toBe(`https://127.0.0.1:${server.httpPort}`);
  });
});

interface CertCase {
  readonly name: string;
  readonly path: string;
  readonly request: unknown;
  readonly expect: {
    readonly status: number;
    readonly decision?: boolean;
    readonly decisions?: boolean[];
    readonly count?: number;
    readonly results?: unknown[];
    readonly results_include?: unknown[];
  };
}

const CERT_CASES = (
  JSON.parse(readFileSync("test/fixtures/authzen-certification.json", "utf8")) as { cases: CertCase[] }
).cases;

describe("the AuthZEN 1.0 certification scenario (Basic, Batch, Subject and Action Search, Discovery)", () => {
  let server: TestServer;
  let base: string;
  let pep: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer();
    base = `http://127.0.0.1:${server.httpPort}`;
    // A fresh org holding only the fixture: its policy and its two users.
    const operator = { "x-operator-token": await createOperatorToken(server.dataDir) };
    const post = async (path: string, body: unknown, headers: Record<string, string>) => {
      const res = await fetch(`${base}/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const org = await post("tessera.v1.SystemService/CreateOrg", { name: "certification" }, operator);
    const admin = { "x-api-key": org.apiKey as string, "x-admin-token": org.adminToken as string };
    pep = { "x-api-key": org.apiKey as string };
    await post(
      "tessera.v1.AdminService/PutPolicy",
      { document: readFileSync("examples/authzen-certification/policy.yaml", "utf8") },
      admin,
    );
    const { users } = JSON.parse(readFileSync("examples/authzen-certification/users.json", "utf8")) as {
      users: { username: string; role: string }[];
    };
    for (const u of users)
      await post("tessera.v1.AdminService/CreateUser", { ...u, password: "correct horse battery" }, admin);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it("loads its cases", () => {
    expect(CERT_CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CERT_CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const res = await fetch(`${base}${c.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "cert-1", ...pep },
      body: JSON.stringify(c.request),
    });
    expect(res.status).toBe(c.expect.status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("x-request-id")).toBe("cert-1");
    const body = (await res.json()) as Record<string, unknown>;
    const items = body.evaluations as { decision: unknown }[] | undefined;
    if (c.expect.decision !== undefined) expect(body.decision).toBe(c.expect.decision);
    if (c.expect.decisions) expect(items?.map((e) => e.decision)).toEqual(c.expect.decisions);
    if (c.expect.count !== undefined)
      expect((items ?? (body.results as unknown[]))?.length).toBe(c.expect.count);
    if (items) for (const e of items) expect(typeof e.decision).toBe("boolean");
    if (c.expect.results) expect(body.results).toEqual(c.expect.results);
    if (c.expect.results_include)
      expect(body.results).toEqual(expect.arrayContaining(c.expect.results_include));
    if (c.expect.status === 400) expect(body.reason).toBe("REQUEST_MALFORMED");
  });

  it("is idempotent: the same request, the same decision", async () => {
    const decisions = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/access/v1/evaluation`, {
        method: "POST",
        headers: { "content-type": "application/json", ...pep },
        body: JSON.stringify(CERT_CASES[0]?.request),
      });
      decisions.push(((await res.json()) as { decision: boolean }).decision);
    }
    expect(decisions).toEqual([true, true, true, true, true]);
  });
});
