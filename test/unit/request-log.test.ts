import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  AdminService,
  CreateAgentRequestSchema,
  SetUserPasswordRequestSchema,
} from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthorizeRequestSchema, AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import type { CallContext } from "../../src/core/context.js";
import { TesseraError } from "../../src/domain/errors.js";
import type { ServiceBinding } from "../../src/rpc/handlers.js";
import { type CallRecord, observeBinding } from "../../src/rpc/request-log.js";

/** A call context carrying `headers`, as a transport would build it. */
function ctx(headers: Record<string, string> = {}): CallContext {
  return {
    header: (name) => headers[name],
    peer: () => undefined,
    remote: () => "127.0.0.1",
    deadline: () => undefined,
  };
}

function observed(binding: ServiceBinding) {
  const records: CallRecord[] = [];
  return { handlers: observeBinding(binding, (r) => records.push(r)).handlers, records };
}

const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ3RfMSJ9.c2lnbmF0dXJl";

describe("the debug request log (issue #10)", () => {
  it("records a request answered at once, and keeps the answer synchronous", () => {
    const binding = {
      service: AuthService,
      handlers: { authorize: () => ({ decision: 1 }) },
      encoders: {},
    } as unknown as ServiceBinding;
    const { handlers, records } = observed(binding);
    const request = create(AuthorizeRequestSchema, {
      subject: { case: "token", value: TOKEN },
      scope: "governance:read",
    });
    const result = handlers.authorize?.(request, ctx({ "x-api-key": "tsk_secret" }));
    expect(result).toEqual({ decision: 1 }); // not a promise: the hot path's same-turn answer survives
    expect(records).toEqual([
      {
        kind: "request",
        rpc: "tessera.v1.AuthService/Authorize",
        code: "OK",
        ms: expect.any(Number),
        caller: "api-key",
      },
    ]);
    expect(JSON.stringify(records)).not.toMatch(/tsk_secret|eyJ|governance/);
  });

  it("records a refusal with its code and reason, thrown at once or later", async () => {
    const refuse = () => {
      throw new TesseraError("TOKEN_INVALID", "bad token");
    };
    const binding = {
      service: AuthService,
      handlers: { authorize: refuse, whoAmI: async () => refuse() },
      encoders: {},
    } as unknown as ServiceBinding;
    const { handlers, records } = observed(binding);
    expect(() => handlers.authorize?.(create(AuthorizeRequestSchema), ctx())).toThrow(TesseraError);
    await expect(handlers.whoAmI?.({} as never, ctx({ authorization: `Bearer ${TOKEN}` }))).rejects.toThrow();
    expect(records).toMatchObject([
      { code: "UNAUTHENTICATED", reason: "TOKEN_INVALID", caller: "none" },
      { rpc: "tessera.v1.AuthService/WhoAmI", code: "UNAUTHENTICATED", caller: "bearer" },
    ]);
    expect(JSON.stringify(records)).not.toContain(TOKEN);
  });

  it("records an unexpected failure as INTERNAL without its message", async () => {
    const binding = {
      service: AuthService,
      handlers: { whoAmI: async () => Promise.reject(new Error("database path /secret/x")) },
      encoders: {},
    } as unknown as ServiceBinding;
    const { handlers, records } = observed(binding);
    await expect(handlers.whoAmI?.({} as never, ctx())).rejects.toThrow();
    expect(records).toMatchObject([{ code: "INTERNAL", reason: "INTERNAL" }]);
    expect(JSON.stringify(records)).not.toContain("/secret/x");
  });

  it("records an admin action with the ids and names it acted on, never a password", async () => {
    const binding = {
      service: AdminService,
      handlers: {
        createAgent: async () => ({}),
        setUserPassword: async () => ({}),
        listAgents: async () => ({ agents: [] }),
      },
      encoders: {},
    } as unknown as ServiceBinding;
    const { handlers, records } = observed(binding);
    const admin = ctx({ "x-api-key": "tsk_k", "x-admin-token": "tat_t" });
    await handlers.createAgent?.(
      create(CreateAgentRequestSchema, { name: "scout", roles: ["operator"] }),
      admin,
    );
    const password = create(SetUserPasswordRequestSchema, {
      userId: "usr_1",
      password: "hunter2 but longer",
    });
    await handlers.setUserPassword?.(password, admin);
    await handlers.listAgents?.({} as never, admin);
    expect(records).toEqual([
      expect.objectContaining({
        kind: "admin action",
        rpc: "tessera.v1.AdminService/CreateAgent",
        caller: "org-admin",
        target: { name: "scout" },
      }),
      expect.objectContaining({ kind: "admin action", target: { userId: "usr_1" } }),
      expect.objectContaining({ kind: "request", rpc: "tessera.v1.AdminService/ListAgents" }),
    ]);
    expect(JSON.stringify(records)).not.toMatch(/hunter2|tsk_k|tat_t/);
  });

  it("names the operator as the caller of a system call", async () => {
    const binding = {
      service: AdminService,
      handlers: { deleteAgent: async () => ({}) },
      encoders: {},
    } as unknown as ServiceBinding;
    const { handlers, records } = observed(binding);
    await handlers.deleteAgent?.({ id: "agt_1" } as never, ctx({ "x-operator-token": "tso_x" }));
    expect(records[0]).toMatchObject({ kind: "admin action", caller: "operator", target: { id: "agt_1" } });
  });
});
