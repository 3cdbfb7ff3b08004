import type { MessageInitShape } from "@bufbuild/protobuf";
import { HeaderValueOption_HeaderAppendAction as AppendAction } from "../../gen/envoy/config/core/v3/base_pb.js";
import type { AttributeContext } from "../../gen/envoy/service/auth/v3/attribute_context_pb.js";
import { Authorization, type CheckResponseSchema } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode as HttpCode } from "../../gen/envoy/type/v3/http_status_pb.js";
import type { HttpDecided } from "../core/auth.js";
import type { CallContext } from "../core/context.js";
import type { ExtAuthzInput } from "../core/ext-authz.js";
import type { Tessera } from "../core/tessera.js";
import { TesseraError } from "../domain/errors.js";
import { encodeCheckResponse } from "./ext-authz-encoder.js";
import { bindService, type ServiceBinding } from "./handlers.js";

/*
 * envoy.service.auth.v3.Authorization on the gRPC port: wire ⇄ core mapping only. Every answer
 * about the checked request is a CheckResponse, never a gRPC error: Envoy configured with
 * `failure_mode_allow` lets a request through when the check fails, so a refusal (no caller
 * credential, a bad token, no subject, a malformed or oversized request) must be a deny it
 * cannot mistake for an outage. Only what is Tessera's own failure (overload, an unavailable
 * decision log, a bug) stays a gRPC error, for Envoy's failure mode to decide.
 */

type Response = MessageInitShape<typeof CheckResponseSchema>;

/** google.rpc.Code values of the answers. */
const RPC = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, UNAUTHENTICATED: 16 } as const;

/** A header Envoy sets on the request, replacing any the client sent under that name. */
const setHeader = (key: string, value: string) => ({
  header: { key, value },
  appendAction: AppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
});

/** The checked request's parts Tessera reads; absent parts are empty (the core refuses them). */
function inputOf(attributes: AttributeContext | undefined): ExtAuthzInput {
  const http = attributes?.request?.http;
  return {
    method: http?.method ?? "",
    host: http?.host ?? "",
    path: http?.path ?? "",
    authorization: http?.headers.authorization,
    sourcePrincipal: attributes?.source?.principal || undefined,
  };
}

/** What a deny answers Envoy: the gRPC status and the HTTP response the client gets. */
function deny(code: number, http: HttpCode, reason: string, message: string, decisionId = ""): Response {
  return {
    status: { code, message },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: http },
        headers: [setHeader("content-type", "application/json")],
        body: JSON.stringify({ reason, decision_id: decisionId }),
      },
    },
    dynamicMetadata: { decision: "DENY", reason, rule: "", policy_revision: 0, decision_id: decisionId },
  };
}

/** A decided check: ALLOW forwards the request with the decision's headers; DENY answers 403. */
function decidedToPb(d: HttpDecided): Response {
  const metadata = {
    decision: d.allow ? "ALLOW" : "DENY",
    reason: d.reason,
    rule: d.rule,
    policy_revision: d.revision,
    decision_id: d.decisionId,
  };
  if (!d.allow)
    return {
      ...deny(RPC.PERMISSION_DENIED, HttpCode.Forbidden, d.reason, "denied", d.decisionId),
      dynamicMetadata: metadata,
    };
  return {
    status: { code: RPC.OK },
    httpResponse: {
      case: "okResponse",
      value: {
        headers: [
          setHeader("x-tessera-decision-id", d.decisionId),
          setHeader("x-tessera-principal", d.subjectId),
          // Decide and mint: the upstream sees only the narrowed token, never the client's own.
          ...(d.token ? [setHeader("authorization", `Bearer ${d.token}`)] : []),
        ],
      },
    },
    dynamicMetadata: metadata,
  };
}

/**
 * A refusal as a deny: no or a bad credential, a bad token or no subject is 401
 * UNAUTHENTICATED; a credential lacking a scope is 403 PERMISSION_DENIED; a malformed or
 * oversized request is 400 INVALID_ARGUMENT. Anything else is Tessera's failure: rethrown.
 */
function refusalToPb(err: unknown): Response {
  if (!(err instanceof TesseraError)) throw err;
  if (err.kind === "unauthenticated" || err.reason === "SUBJECT_MISSING")
    return deny(RPC.UNAUTHENTICATED, HttpCode.Unauthorized, err.reason, err.message);
  if (err.kind === "permission_denied")
    return deny(RPC.PERMISSION_DENIED, HttpCode.Forbidden, err.reason, err.message);
  if (err.kind === "invalid_argument")
    return deny(RPC.INVALID_ARGUMENT, HttpCode.BadRequest, err.reason, err.message);
  throw err;
}

/** Every handler's refusals (its field limits' included) answered as denies. */
function refusalsAsDenies(binding: ServiceBinding): ServiceBinding {
  const handlers: ServiceBinding["handlers"] = {};
  for (const [name, handler] of Object.entries(binding.handlers)) {
    handlers[name] = (req, ctx: CallContext) => {
      try {
        const out = handler(req, ctx);
        return out instanceof Promise ? out.catch(refusalToPb) : out;
      } catch (err) {
        return refusalToPb(err);
      }
    };
  }
  return { ...binding, handlers };
}

/** envoy.service.auth.v3.Authorization, served on the gRPC port only. */
export function extAuthzService(t: Tessera): ServiceBinding {
  return refusalsAsDenies(
    bindService(
      Authorization,
      {
        // Not async: with a cached token the answer comes back in the same turn, as Authorize's.
        check(req, ctx) {
          const o = t.extAuthz.check(ctx, inputOf(req.attributes));
          return o instanceof Promise ? o.then(decidedToPb) : decidedToPb(o);
        },
      },
      { check: encodeCheckResponse },
    ),
  );
}
