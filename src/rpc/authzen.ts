import type { DecidedWithToken } from "../core/auth.js";
import type { CallContext } from "../core/context.js";
import { type ItemOutcome, MAX_SEARCH_PAGE } from "../core/evaluations.js";
import type { Tessera } from "../core/tessera.js";
import { TesseraError } from "../domain/errors.js";
import { AUTHZEN_LIMITS } from "../domain/limits.js";
import { utf8Fits } from "../domain/utf8.js";
import {
  actionNameOf,
  evaluationsOf,
  itemQuestion,
  pageOf,
  parseBody,
  parts,
  question,
  semanticOf,
  subjectTypeOf,
} from "./authzen-decode.js";
import { httpStatusOf, toWireError } from "./errors.js";

/*
 * The OpenID AuthZEN Authorization API 1.0 on the HTTP port: wire ⇄ core mapping only. The
 * transport reads the (bounded) body and hands it here with the call's context; the answer
 * is a status, a JSON body and headers. Keys are snake_case; a deny is HTTP 200.
 */

/** A plain HTTP request as the transport hands it over. */
export interface PlainRequest {
  readonly method: string;
  readonly path: string;
  /** The body's bytes; undefined when it was over the bound (REQUEST_TOO_LARGE). */
  readonly body: Uint8Array | undefined;
  readonly ctx: CallContext;
  /** `https://host:port` as the caller reached us (for the configuration document). */
  readonly baseUrl: string | undefined;
}

export interface PlainResponse {
  readonly status: number;
  readonly body: object;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export type PlainHandler = (req: PlainRequest) => PlainResponse | Promise<PlainResponse>;

export const AUTHZEN_PATHS = {
  evaluation: "/access/v1/evaluation",
  evaluations: "/access/v1/evaluations",
  searchAction: "/access/v1/search/action",
  searchSubject: "/access/v1/search/subject",
  configuration: "/.well-known/authzen-configuration",
} as const;

const POST_PATHS: ReadonlySet<string> = new Set([
  AUTHZEN_PATHS.evaluation,
  AUTHZEN_PATHS.evaluations,
  AUTHZEN_PATHS.searchAction,
  AUTHZEN_PATHS.searchSubject,
]);

/** True when `path` is an AuthZEN endpoint (whatever the method: a wrong one gets a 405 here). */
export function isAuthzenPath(path: string): boolean {
  return POST_PATHS.has(path) || path === AUTHZEN_PATHS.configuration;
}

/** A refusal as the AuthZEN endpoints write it: `{"error", "reason"}` and the field, if any. */
export function errorResponse(err: unknown): PlainResponse {
  const e = toWireError(err);
  const body: Record<string, string> = { error: e.message, reason: e.reason };
  for (const [k, v] of Object.entries(e.details)) if (!(k in body)) body[k] = v;
  const retry = e.details.retry_after_seconds;
  return { status: httpStatusOf(e), body, headers: retry ? { "retry-after": retry } : undefined };
}

/** A decision on the wire: always `decision`, a context saying why, and a minted token if any. */
function decisionBody(d: DecidedWithToken): object {
  const context: Record<string, unknown> = {
    decision_id: d.decisionId,
    reason: d.reason,
    policy_revision: d.revision,
  };
  if (d.rule) context.rule = d.rule;
  if (d.token) {
    context.token = d.token;
    context.expires_at = d.expiresAt;
  }
  return { decision: d.allow, context };
}

/** A batch item refused alone: a deny, with the refusal in its context. */
function itemBody(o: ItemOutcome): object {
  if ("decided" in o) return decisionBody(o.decided);
  const e = toWireError(o.error);
  return { decision: false, context: { reason: e.reason, error: e.message, ...e.details } };
}

async function evaluation(t: Tessera, req: PlainRequest): Promise<PlainResponse> {
  const body = parseBody(req.body ?? new Uint8Array(0));
  const d = await t.evaluations.evaluate(req.ctx, question(parts(body, "")));
  return { status: 200, body: decisionBody(d) };
}

async function evaluations(t: Tessera, req: PlainRequest): Promise<PlainResponse> {
  const body = parseBody(req.body ?? new Uint8Array(0));
  const top = parts(body, "");
  const semantic = semanticOf(body);
  const items = evaluationsOf(body);
  // No evaluations (absent or empty): the request is a single Access Evaluation.
  if (!items) {
    const d = await t.evaluations.evaluate(req.ctx, question(top));
    return { status: 200, body: decisionBody(d) };
  }
  // The PEP is checked before any item is looked at: a 401 is never a list of item errors.
  t.evaluations.caller(req.ctx);
  const questions = items.map((item, i) => itemQuestion(top, item, i));
  const outcomes = await t.evaluations.evaluateMany(req.ctx, questions, semantic);
  return { status: 200, body: { evaluations: outcomes.map(itemBody) } };
}

async function searchAction(t: Tessera, req: PlainRequest): Promise<PlainResponse> {
  const body = parseBody(req.body ?? new Uint8Array(0));
  const p = parts(body, "");
  // The question without an action: the subject and resource are required as in an evaluation.
  const q = question({ ...p, action: { name: "search:action" } });
  const scopes = await t.evaluations.searchActions(
    req.ctx,
    q.subject,
    q.resource,
    p.context,
    q.resource.kind,
  );
  return { status: 200, body: { results: scopes.map((s) => ({ name: actionNameOf(s, q.resource.kind) })) } };
}

async function searchSubject(t: Tessera, req: PlainRequest): Promise<PlainResponse> {
  const body = parseBody(req.body ?? new Uint8Array(0));
  const p = parts(body, "");
  const type = subjectTypeOf(p);
  // The question with a placeholder subject: action and resource are required as in an evaluation.
  const q = question({ ...p, subject: { type, id: "search" } });
  const page = pageOf(body, MAX_SEARCH_PAGE);
  const found = await t.evaluations.searchSubjects(req.ctx, type, q, page);
  return {
    status: 200,
    body: {
      results: found.ids.map((id) => ({ type, id })),
      page: { next_token: found.next === undefined ? "" : String(found.next) },
    },
  };
}

/** The PDP metadata: absolute URLs of the endpoints served (those not served are left out). */
function configuration(req: PlainRequest): PlainResponse {
  const base = req.baseUrl;
  if (!base)
    throw new TesseraError("REQUEST_MALFORMED", "the Host header is missing or malformed", { field: "host" });
  return {
    status: 200,
    body: {
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}${AUTHZEN_PATHS.evaluation}`,
      access_evaluations_endpoint: `${base}${AUTHZEN_PATHS.evaluations}`,
      search_subject_endpoint: `${base}${AUTHZEN_PATHS.searchSubject}`,
      search_action_endpoint: `${base}${AUTHZEN_PATHS.searchAction}`,
    },
  };
}

function isJson(ctx: CallContext): boolean {
  const type = ctx.header("content-type") ?? "";
  return /^application\/json\s*(;|$)/i.test(type.trim());
}

/** The X-Request-ID to echo (within its bound; a longer one is not echoed). */
export function requestIdHeader(ctx: CallContext): Record<string, string> {
  const id = ctx.header("x-request-id");
  return id && utf8Fits(id, AUTHZEN_LIMITS.requestIdBytes) ? { "x-request-id": id } : {};
}

async function route(t: Tessera, req: PlainRequest): Promise<PlainResponse> {
  if (req.path === AUTHZEN_PATHS.configuration) {
    if (req.method !== "GET" && req.method !== "HEAD") throw methodNotAllowed("GET");
    return configuration(req);
  }
  if (req.method !== "POST") throw methodNotAllowed("POST");
  if (req.body === undefined)
    throw new TesseraError("REQUEST_TOO_LARGE", "the body is over the server's message bound");
  if (!isJson(req.ctx))
    throw new TesseraError("REQUEST_MALFORMED", "the body must be sent as application/json", {
      field: "content-type",
    });
  if (req.path === AUTHZEN_PATHS.evaluation) return evaluation(t, req);
  if (req.path === AUTHZEN_PATHS.evaluations) return evaluations(t, req);
  if (req.path === AUTHZEN_PATHS.searchSubject) return searchSubject(t, req);
  return searchAction(t, req);
}

function methodNotAllowed(allow: string): TesseraError {
  return new TesseraError("METHOD_NOT_ALLOWED", `this endpoint takes ${allow}`, { allow });
}

/** Admits a call or refuses it (the per-worker admission of the RPCs). */
export interface PlainAdmission {
  guard<R>(ctx: CallContext, run: () => Promise<R>): Promise<R>;
}

/** The AuthZEN endpoints' handler: never throws, every refusal is a JSON error body. */
export function authzenHandler(t: Tessera, admission?: PlainAdmission): PlainHandler {
  return async (req) => {
    const echo = requestIdHeader(req.ctx);
    try {
      const res = await (admission ? admission.guard(req.ctx, () => route(t, req)) : route(t, req));
      return { ...res, headers: { ...res.headers, ...echo } };
    } catch (err) {
      const res = errorResponse(err);
      const allow = err instanceof TesseraError ? err.details.allow : undefined;
      return { ...res, headers: { ...res.headers, ...echo, ...(allow ? { allow } : {}) } };
    }
  };
}
