import type * as http from "node:http";
import type * as http2 from "node:http2";
import { create, type DescMessage, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import {
  type AuthorizeRequest,
  AuthorizeRequestSchema,
  AuthService,
} from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { requestContextValues } from "./connect-adapter.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Authorize's Connect path. */
export const AUTHORIZE_PATH = `/${AuthService.typeName}/${AuthService.method.authorize.name}`;

/** How many Authorize calls the direct path answered (tests check it is taken). */
export const directPathStats = { served: 0 };

/** A Connect implementation of Authorize as connect-adapter.ts registers it. */
export type ConnectImpl = (req: never, ctx: HandlerContext) => Promise<unknown>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const TIERS = new Map(
  Object.entries(Tier)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [`TIER_${k}`, v as Tier]),
);
const onlyKeys = (o: Record<string, unknown>, allowed: ReadonlySet<string>) =>
  Object.keys(o).every((k) => allowed.has(k));
const TOP = new Set(["token", "attributes", "scope", "resource"]);
const ATTRS = new Set(["id", "tier", "roles"]);
const RESOURCE = new Set(["kind", "id", "attr"]);
const str = (v: unknown) => v === undefined || typeof v === "string";

/** A Struct of string values only, as protobuf-es holds a Struct (a JSON object); undefined when it is anything else. */
function stringStruct(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const fields: Record<string, string> = {};
  for (const key of Object.keys(v)) {
    const value = v[key];
    if (typeof value !== "string" || key === "__proto__") return undefined;
    fields[key] = value;
  }
  return fields;
}

/**
 * The Authorize request of exactly the shape PEPs send (a token or `id`/`tier`/`roles`
 * attributes, a scope, a resource with string attributes), decoded by hand; undefined for
 * anything else (other fields, other types, tier aliases, null), which the Connect path decodes
 * and answers, refusals included.
 */
export function decodeAuthorizeJson(bytes: Uint8Array): AuthorizeRequest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!isObject(json) || !onlyKeys(json, TOP)) return undefined;
  const { token, attributes, scope, resource } = json;
  if (!str(token) || !str(scope) || (token !== undefined && attributes !== undefined)) return undefined;
  const init: Record<string, unknown> = { scope: scope ?? "" };
  if (token !== undefined) init.subject = { case: "token", value: token };
  if (attributes !== undefined) {
    if (!isObject(attributes) || !onlyKeys(attributes, ATTRS)) return undefined;
    const { id, tier, roles } = attributes;
    if (!str(id) || (tier !== undefined && (typeof tier !== "string" || !TIERS.has(tier)))) return undefined;
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === "string")))
      return undefined;
    init.subject = {
      case: "attributes",
      value: {
        id: id ?? "",
        tier: tier === undefined ? Tier.UNSPECIFIED : TIERS.get(tier),
        roles: roles ?? [],
      },
    };
  }
  if (resource !== undefined) {
    if (!isObject(resource) || !onlyKeys(resource, RESOURCE)) return undefined;
    const { kind, id, attr } = resource;
    if (!str(kind) || !str(id)) return undefined;
    const struct = attr === undefined ? undefined : stringStruct(attr);
    if (attr !== undefined && !struct) return undefined;
    init.resource = { kind: kind ?? "", id: id ?? "", ...(struct ? { attr: struct } : {}) };
  }
  return create(AuthorizeRequestSchema, init as never);
}

/** Header values as Connect's universal request gives them (lower-case names, repeats joined). */
function headerOf(req: NodeRequest) {
  return {
    get(name: string): string | null {
      const v = req.headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    },
  };
}

/**
 * Whether a request may take the direct path, from its headers alone: a Connect unary JSON POST
 * to Authorize over HTTP/1.x with a declared length within the limit, and nothing the direct path would have
 * to interpret (compression either way, a deadline, a query string, another protocol version).
 */
export function directCandidate(req: NodeRequest, maxBytes: number): number | undefined {
  // HTTP/1.x only: the plaintext port, where the tests compare both paths (HTTP/2 over TLS stays on the router).
  if (req.httpVersionMajor !== 1 || req.method !== "POST" || req.url !== AUTHORIZE_PATH) return undefined;
  const h = req.headers;
  if (h["content-type"] !== "application/json") return undefined;
  if (h["content-encoding"] !== undefined || h["accept-encoding"] !== undefined) return undefined;
  if (h["connect-content-encoding"] !== undefined || h["connect-accept-encoding"] !== undefined)
    return undefined;
  if (h["connect-timeout-ms"] !== undefined || h["transfer-encoding"] !== undefined) return undefined;
  const version = h["connect-protocol-version"];
  if (version !== undefined && version !== "1") return undefined;
  const length = h["content-length"];
  if (length === undefined || !/^[0-9]{1,9}$/.test(length)) return undefined;
  const n = Number(length);
  return n > 0 && n <= maxBytes ? n : undefined;
}

/**
 * Serves a decoded Authorize through the same implementation the Connect router calls (request
 * id, metrics, rate limits, admission, field limits are all in it), answering what Connect's
 * unary handler answers: the same status, headers and body, errors included.
 */
export async function serveDirect(
  impl: ConnectImpl,
  output: DescMessage,
  request: AuthorizeRequest,
  req: NodeRequest,
  res: NodeResponse,
): Promise<void> {
  directPathStats.served++;
  const responseHeader = new Headers({ "content-type": "application/json" });
  const ctx = {
    requestHeader: headerOf(req),
    responseHeader,
    values: requestContextValues(req),
    timeoutMs: () => undefined,
  } as unknown as HandlerContext;
  let status = 200;
  let body: Uint8Array;
  try {
    const out = await impl(request as never, ctx);
    body = new TextEncoder().encode(toJsonString(output, out as never));
  } catch (e) {
    const error =
      e instanceof ConnectError
        ? e
        : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    status = codeToHttpStatus(error.code);
    responseHeader.set("content-type", "application/json");
    error.metadata.forEach((value, key) => {
      responseHeader.set(key, value);
    });
    body = errorToJsonBytes(error, {});
  }
  responseHeader.set("content-length", String(body.byteLength));
  const headers: Record<string, string> = {};
  responseHeader.forEach((value, key) => {
    headers[key] = value;
  });
  res.writeHead(status, headers);
  res.end(body);
}
