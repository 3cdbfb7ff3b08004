import * as grpc from "@grpc/grpc-js";
import { expect } from "vitest";
import type { NewOrg } from "../../src/core/bootstrap.js";
import { type CallFailure, reasonOf } from "./grpc-client.js";

/** The headers proving admin authority over an org (x-api-key + x-admin-token). */
export function adminHeaders(org: NewOrg): Record<string, string> {
  return { "x-api-key": org.apiKey, "x-admin-token": org.adminToken };
}

/** A call result as grpcClient resolves it. */
export type CallResult<T> = { ok: true; value: T } | { ok: false; error: CallFailure };

/**
 * Asserts a call failed with this gRPC code and, when given, this ErrorInfo reason.
 * `reason: undefined` is only for refusals made by the transport itself (no handler ran).
 */
export function expectFailure(
  res: CallResult<unknown>,
  code: grpc.status,
  reason: string | undefined,
): CallFailure {
  if (res.ok) throw new Error(`expected ${grpc.status[code]} ${reason ?? ""}, the call succeeded`);
  expect({
    code: grpc.status[res.error.code],
    reason: reason === undefined ? undefined : res.error.reason,
  }).toEqual({ code: grpc.status[code], reason });
  return res.error;
}

/** The value of a call that must succeed (with its failure shown when it did not). */
export function expectOk<T>(res: CallResult<T>): T {
  if (!res.ok)
    throw new Error(`call failed: ${grpc.status[res.error.code]} ${res.error.reason} ${res.error.message}`);
  return res.value;
}

/**
 * Sends `body` as the request bytes of a unary call, exactly as given: a grpc-js client whose
 * serializer is the identity, so the server sees bytes no protobuf encoder produced.
 */
export function rawUnary(
  address: string,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<CallResult<Buffer>> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const identity = (b: Buffer) => b;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      body,
      md,
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null, value?: Buffer) => {
        client.close();
        if (err)
          resolve({ ok: false, error: { code: err.code, reason: reasonOf(err), message: err.details } });
        else resolve({ ok: true, value: value ?? Buffer.alloc(0) });
      },
    );
  });
}

/**
 * The same JWT with the first character of its payload changed (`eyJ…` → `AyJ…`): still
 * canonical base64url, but the claims no longer decode as JSON.
 */
export function tamperPayload(jwt: string): string {
  const [header, payload, signature] = jwt.split(".") as [string, string, string];
  return `${header}.${payload[0] === "A" ? "B" : "A"}${payload.slice(1)}.${signature}`;
}

/**
 * The same JWT with some claims rewritten (well-formed JSON, canonical base64url) and the
 * original signature kept: a forgery only the signature check can catch.
 */
export function forgeClaims(jwt: string, patch: Record<string, unknown>): string {
  const [header, , signature] = jwt.split(".") as [string, string, string];
  const claims = Buffer.from(JSON.stringify({ ...jwtPayload(jwt), ...patch })).toString("base64url");
  return `${header}.${claims}.${signature}`;
}

/** The payload of a JWT, decoded without verification (to compare claims in tests). */
export function jwtPayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
    string,
    unknown
  >;
}
