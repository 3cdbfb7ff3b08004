import { readFileSync } from "node:fs";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Command } from "commander";
import type { AuthenticateRequestSchema, TokenPair } from "../../../gen/tessera/v1/auth_service_pb.js";
import { resolveAgentId } from "../agent-ref.js";
import { clientsFor } from "../common.js";
import { isoTime } from "../format.js";
import { emit, UsageError } from "../output.js";
import { topLevel } from "../registry.js";

type LoginCredential = NonNullable<MessageInitShape<typeof AuthenticateRequestSchema>["credential"]>;

function pairJson(p: TokenPair | undefined) {
  return (
    p && {
      accessToken: p.accessToken,
      accessTokenExpiresAt: isoTime(p.accessTokenExpiresAt),
      refreshToken: p.refreshToken,
      refreshTokenExpiresAt: isoTime(p.refreshTokenExpiresAt),
    }
  );
}

interface LoginOptions {
  org?: string;
  username?: string;
  passwordFile?: string;
  agent?: string;
  secretFile?: string;
  keyFile?: string;
  keyId?: string;
  audience?: string;
}

/** A secret from a file (or "-" for standard input), never from argv where `ps` would show it. */
function readSecretFile(path: string): string {
  return readFileSync(path === "-" ? 0 : path, "utf8").replace(/\r?\n$/, "");
}

/** The Authenticate credential the login options describe. */
async function loginCredential(o: LoginOptions): Promise<LoginCredential> {
  if (o.agent && o.secretFile) {
    return { case: "agentSecret", value: { agentId: o.agent, secret: readSecretFile(o.secretFile) } };
  }
  if (o.agent && o.keyFile) {
    // Loaded here: only this way of logging in signs anything.
    const [{ createPrivateKey, randomUUID }, { SignJWT }] = await Promise.all([
      import("node:crypto"),
      import("jose"),
    ]);
    const key = createPrivateKey(readFileSync(o.keyFile));
    const alg = key.asymmetricKeyType === "ed25519" ? "EdDSA" : "RS256";
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg, ...(o.keyId ? { kid: o.keyId } : {}) })
      .setIssuer(o.agent)
      .setSubject(o.agent)
      .setAudience(o.audience ?? "tessera")
      .setIssuedAt()
      .setExpirationTime("2m")
      .setJti(randomUUID())
      .sign(key);
    return { case: "clientAssertion", value: assertion };
  }
  if (o.org && o.username && o.passwordFile) {
    return {
      case: "password",
      value: { orgId: o.org, username: o.username, password: readSecretFile(o.passwordFile) },
    };
  }
  throw new UsageError(
    "give --agent with --secret-file or --key-file, or --org, --username and --password-file",
  );
}

/** `tessera login`: a user or an agent starts a session. */
export function registerLogin(program: Command): void {
  topLevel(program, "login")
    .option("--org <orgId>", "a user's org")
    .option("--username <name>", "a user's username")
    .option("--password-file <path>", "file holding a user's password; - reads standard input")
    .option("--agent <agentId>", "log in as this agent")
    .option("--secret-file <path>", "file holding the agent's tas_ secret; - reads standard input")
    .option(
      "--key-file <path>",
      "the agent's private key (PEM): sign a client assertion instead of sending a secret",
    )
    .option("--key-id <kid>", "the registered key's id, put in the assertion's kid header")
    .option("--audience <aud>", "the server's audience (TESSERA_AUDIENCE on the server)", "tessera")
    .addHelpText("after", "\nUse the access token with --token (or TESSERA_TOKEN) on later commands.")
    .action(async (o: LoginOptions, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.auth.authenticate({
        credential: await loginCredential(o),
        issueTokens: true,
      });
      emit(
        json,
        pairJson(res.tokens),
        () => `${res.tokens?.accessToken}\nrefresh: ${res.tokens?.refreshToken}`,
      );
    });
}

/** `tessera token refresh|revoke|introspect`. */
export function registerTokenSession(program: Command): void {
  const token = topLevel(program, "token");
  token
    .command("refresh <refreshToken>")
    .description(
      "exchange a refresh token for a new access and refresh token (each refresh token works once)",
    )
    .action(async (refreshToken: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.auth.refreshToken({ refreshToken });
      emit(
        json,
        pairJson(res.tokens),
        () => `${res.tokens?.accessToken}\nrefresh: ${res.tokens?.refreshToken}`,
      );
    });
  token
    .command("revoke <token>")
    .description("revoke an access or refresh token of the org (RFC 7009)")
    .action(async (t: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const r = await clients.auth.revokeToken({ token: t }, { headers: clients.orgHeaders() });
      // RFC 7009 answers OK for anything; the server says whether it was a token of this org.
      if (!r.recognized) throw new UsageError("not a token of this org: nothing was revoked");
      emit(
        json,
        { revoked: true, tokenType: r.tokenType },
        () => `revoked (${r.tokenType.replace("_", " ")})`,
      );
    });
  token
    .command("introspect <token>")
    .description("describe a token (RFC 7662): active, subject, org, scopes, expiry")
    .action(async (t: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const r = await clients.auth.introspectToken({ token: t }, { headers: clients.orgHeaders() });
      const out = r.active
        ? {
            active: true,
            tokenType: r.tokenType,
            sub: r.sub,
            org: r.org,
            scopes: r.scopes,
            roles: r.roles,
            exp: isoTime(r.exp),
            ...(r.decisionId ? { decisionId: r.decisionId } : {}),
            ...(r.actors.length > 0 ? { actors: r.actors } : {}),
          }
        : { active: false };
      emit(json, out, () => JSON.stringify(out, null, 2));
    });
}

/** `tessera agents keys add|remove`. */
export function registerAgentKeys(program: Command): void {
  const keys = topLevel(program, "agents")
    .command("keys")
    .description("public keys an agent signs client assertions with");
  keys
    .command("add <agent> <publicKeyFile>")
    .description("register an Ed25519 or RSA (2048+) public key, PEM or JWK, for an agent (NAME or ID)")
    .action(async (ref: string, file: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const res = await clients.admin.registerAgentKey(
        { agentId: await resolveAgentId(clients, ref), publicKey: readFileSync(file, "utf8") },
        { headers: clients.adminHeaders() },
      );
      emit(
        json,
        { keyId: res.keyId, alg: res.alg },
        () => `${res.keyId}  ${res.alg}  (use it as the assertion's kid)`,
      );
    });
  keys
    .command("remove <agent> <keyId>")
    .description("remove a registered key (sessions it started end)")
    .action(async (ref: string, keyId: string, _o: unknown, cmd: Command) => {
      const { clients, json } = await clientsFor(cmd);
      const agentId = await resolveAgentId(clients, ref);
      await clients.admin.removeAgentKey({ agentId, keyId }, { headers: clients.adminHeaders() });
      emit(json, { removed: keyId }, () => `removed ${keyId}`);
    });
}
