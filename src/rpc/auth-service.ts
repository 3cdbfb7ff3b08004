import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  type AuthorizeRequest,
  type AuthorizeResponseSchema,
  AuthService,
  Decision as DecisionPb,
  type MintTokenResponseSchema,
} from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { bearerOf } from "../core/access.js";
import type { DecidedWithToken } from "../core/auth.js";
import type { SubjectInput } from "../core/authorize-subject.js";
import type { Minted } from "../core/mint.js";
import type { Tessera } from "../core/tessera.js";
import type { Decision } from "../engine/types.js";
import { credentialFromPb, grantsFromPb, introspectionToPb, tokenPairToPb } from "./auth-convert.js";
import { encodeAuthorizeResponse, encodeMintTokenResponse } from "./authorize-encoder.js";
import { durationSeconds, principalToPb, resourceFromPb, secondsToTimestamp, tierFromPb } from "./convert.js";
import { bindService, type ServiceBinding } from "./handlers.js";
import { type Serving, serverStatusHandler } from "./server-status.js";

/** The subject oneof of Authorize and AuthorizeBatch. */
function subjectFromPb(s: AuthorizeRequest["subject"]): SubjectInput | undefined {
  if (s.case === "token") return { kind: "token", token: s.value };
  if (s.case !== "attributes") return undefined;
  const a = s.value;
  return {
    kind: "attributes",
    attributes: {
      id: a.id,
      tier: tierFromPb(a.tier),
      roles: a.roles,
      scopes: a.scopes.length > 0 ? a.scopes : undefined,
      tags: a.tags,
      attr: a.attr ?? {},
    },
  };
}

function decisionToPb(
  d: Decision & { decisionId: string },
): MessageInitShape<typeof AuthorizeResponseSchema> {
  return {
    decision: d.allow ? DecisionPb.ALLOW : DecisionPb.DENY,
    reason: d.reason,
    rule: d.rule,
    policyRevision: BigInt(d.revision),
    decisionId: d.decisionId,
    explanation:
      d.explanation?.map((e) => ({
        rule: e.rule,
        effect: e.effect,
        outcome: e.outcome,
        error: e.error ?? "",
      })) ?? [],
  };
}

/** An Authorize answer made with `mint`: the token and its expiry with an ALLOW. */
function mintedDecisionToPb(d: DecidedWithToken): MessageInitShape<typeof AuthorizeResponseSchema> {
  const pb = decisionToPb(d);
  return d.token === undefined || d.expiresAt === undefined
    ? pb
    : { ...pb, token: d.token, expiresAt: secondsToTimestamp(d.expiresAt) };
}

/** MintToken's answer: the token, its expiry and its id. */
function mintedToPb({ token, claims }: Minted): MessageInitShape<typeof MintTokenResponseSchema> {
  return { token, expiresAt: secondsToTimestamp(claims.exp), tokenId: claims.jti };
}

/** tessera.v1.AuthService: wire ⇄ domain mapping only. `serving` is the transport's health. */
export function authService(t: Tessera, serving: Serving = () => true): ServiceBinding {
  return bindService(
    AuthService,
    {
      async authenticate(req, ctx) {
        const { principal, tokens } = await t.login.authenticate(
          credentialFromPb(req.credential),
          req.issueTokens,
          ctx,
        );
        return { principal: principalToPb(principal), ...(tokens ? { tokens: tokenPairToPb(tokens) } : {}) };
      },

      // Not async: with an API key or a cached token the decision comes back at once, and the
      // gRPC port then answers without a trip through the microtask queue.
      authorize(req, ctx) {
        if (req.mint) {
          return (
            t.auth.authorize(
              {
                subject: subjectFromPb(req.subject),
                scope: req.scope,
                resource: resourceFromPb(req.resource),
                context: req.context,
                explain: req.explain,
                mint: { ttlSeconds: durationSeconds(req.mint.ttl), audience: req.mint.audience },
              },
              ctx,
            ) as Promise<DecidedWithToken>
          ).then(mintedDecisionToPb);
        }
        const d = t.auth.authorize(
          {
            subject: subjectFromPb(req.subject),
            scope: req.scope,
            resource: resourceFromPb(req.resource),
            context: req.context,
            explain: req.explain,
          },
          ctx,
        );
        return d instanceof Promise ? d.then(decisionToPb) : decisionToPb(d);
      },

      async authorizeBatch(req, ctx) {
        const checks = req.checks.map((c) => ({
          scope: c.scope,
          resource: resourceFromPb(c.resource),
          context: c.context,
        }));
        const results = await t.auth.authorizeBatch(subjectFromPb(req.subject), checks, req.explain, ctx);
        return { results: results.map(decisionToPb) };
      },

      // Not async: the admin pair minting for an agent held in memory is answered at once.
      mintToken(req, ctx) {
        const minted = t.minter.mint(
          {
            agentId: req.agentId,
            scopes: req.scopes,
            audience: req.audience,
            ttlSeconds: durationSeconds(req.ttl),
            grants: grantsFromPb(req.grants),
            tier: req.tier === Tier.UNSPECIFIED ? undefined : tierFromPb(req.tier),
          },
          ctx,
        );
        return minted instanceof Promise ? minted.then(mintedToPb) : mintedToPb(minted);
      },

      getJwks() {
        return { keys: t.keys.jwks() as Record<string, string>[] };
      },

      async refreshToken(req) {
        return { tokens: tokenPairToPb(await t.sessions.refresh(req.refreshToken)) };
      },

      async revokeToken(req, ctx) {
        // RFC 7009: an authenticated caller, and only its own org's tokens are affected.
        const r = await t.sessions.revoke(req.token, await t.access.callerOrg(ctx));
        return r.recognized ? { recognized: true, tokenType: r.type } : { recognized: false };
      },

      async introspectToken(req, ctx) {
        const result = await t.sessions.introspect(req.token, await t.access.callerOrg(ctx));
        return introspectionToPb(result);
      },

      async logout(req, ctx) {
        await t.sessions.logout(req.refreshToken || undefined, bearerOf(ctx));
        return {};
      },

      async whoAmI(_req, ctx) {
        return { principal: principalToPb(await t.login.whoAmI(ctx)) };
      },

      getServerStatus: serverStatusHandler(t, serving),
    },
    { authorize: encodeAuthorizeResponse, mintToken: encodeMintTokenResponse },
  );
}
