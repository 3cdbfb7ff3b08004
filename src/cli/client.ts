import { readFileSync } from "node:fs";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { AuthService } from "../../gen/tessera/v1/auth_service_pb.js";
import { SystemService } from "../../gen/tessera/v1/system_service_pb.js";
import type { ClientConfig } from "../config/client-config.js";
import { CREDENTIAL_ADVICE, diagnoseConnection } from "./connection-advice.js";
import { CliError, EXIT, exitFor, UsageError } from "./output.js";

/** Typed clients for the server's gRPC port, with the configured credentials. */
export interface Clients {
  readonly auth: Client<typeof AuthService>;
  readonly admin: Client<typeof AdminService>;
  readonly system: Client<typeof SystemService>;
  /**
   * Headers proving admin authority: the session token (authorization: Bearer) when one is
   * configured, else x-api-key (+ x-admin-token). A usage error when none is configured.
   */
  adminHeaders(): Record<string, string>;
  /** The credential naming the caller's org: the token, else x-api-key (none: the mTLS identity speaks). */
  orgHeaders(): Record<string, string>;
  /** All of the caller's own credential as configured (token, or API key and admin token); maybe none. */
  ownHeaders(): Record<string, string>;
  /** The operator token header; a usage error when no operator token is configured. */
  operatorHeaders(): Record<string, string>;
}

/** Codes a call gets when no server answered it (the transport failed), worth a diagnosis. */
const TRANSPORT_CODES = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.Aborted, Code.Canceled]);

/**
 * Every failed call becomes a CliError: a server refusal keeps its code and reason (with the
 * flag to set when it is a missing credential); a connection failure says what to change.
 */
function describeFailures(c: ClientConfig): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const e = ConnectError.from(err);
      const reason = e.findDetails(ErrorInfoSchema)[0]?.reason ?? e.metadata.get("tessera-reason") ?? "";
      if (!reason && TRANSPORT_CODES.has(e.code)) {
        const diagnosed = await diagnoseConnection(e, c);
        if (diagnosed) throw diagnosed;
      }
      const code = Code[e.code] ?? String(e.code);
      // A missing credential is a configuration mistake: say which flag or variable to set.
      const advice = CREDENTIAL_ADVICE[reason];
      if (advice) throw new CliError({ code, reason, message: advice }, EXIT.usage);
      const hint =
        e.code === Code.Unavailable ? " (is the server running? see --server / TESSERA_SERVER)" : "";
      throw new CliError({ code, reason, message: `${e.rawMessage}${hint}` }, exitFor(code, reason));
    }
  };
}

function transport(c: ClientConfig): Transport {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const ca = read(c.tlsCa);
  const cert = read(c.tlsCert);
  const key = read(c.tlsKey);
  return createGrpcTransport({
    baseUrl: c.server,
    interceptors: [describeFailures(c)],
    nodeOptions: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
  });
}

const pick = (entries: [string, string | undefined][]) =>
  Object.fromEntries(entries.filter((e): e is [string, string] => Boolean(e[1])));

export function createClients(c: ClientConfig): Clients {
  const t = transport(c);
  const bearer = c.token ? { authorization: `Bearer ${c.token}` } : undefined;
  const own =
    bearer ??
    pick([
      ["x-api-key", c.apiKey],
      ["x-admin-token", c.adminToken],
    ]);
  return {
    auth: createClient(AuthService, t),
    admin: createClient(AdminService, t),
    system: createClient(SystemService, t),
    adminHeaders: () => {
      if (!bearer && !c.apiKey && !c.adminToken)
        throw new UsageError(
          `this command needs the org's credentials: ${CREDENTIAL_ADVICE.CREDENTIAL_MISSING}`,
        );
      return own;
    },
    orgHeaders: () => bearer ?? pick([["x-api-key", c.apiKey]]),
    ownHeaders: () => own,
    operatorHeaders: () => {
      if (!c.operatorToken)
        throw new UsageError(
          "this command needs the operator token: --operator-token / TESSERA_OPERATOR_TOKEN (create one with `tessera operator token create --data-dir D`)",
        );
      return { "x-operator-token": c.operatorToken };
    },
  };
}
