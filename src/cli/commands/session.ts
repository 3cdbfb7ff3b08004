import { createPrivateKey, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { SignJWT } from "jose";
import type { AuthenticateRequestSchema, TokenPair } from "../../../gen/tessera/v1/auth_service_pb.js";

type LoginCredential = NonNullable<MessageInitShape<typeof AuthenticateRequestSchema>["credential"]>;

import { clientsFor } from "../common.js";
import { emit, UsageError } from "../output.js";

function pairJson(p: TokenPair | undefined) {
  const at = (t: TokenPair["accessTokenExpiresAt"]) => (t ? timestampDate(t).toISOString() : undefined);
  return (
    p && {
      accessToken: p.accessToken,
      accessTokenExpiresAt: at(p.accessTokenExpiresAt),
      refreshToken: p.refreshToken,
      refreshTokenExpiresAt: at(p.refreshTokenExpiresAt),
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

/** `tessera login`, `tessera token refresh|revoke|introspect`, `tessera agents keys add|remove`. */
export function registerSession(program: Command): void {
  program
    .command("login")
    .description(
      "log in and print an access and a refresh token: a user (password) or an agent (secret or signed key)",
    )
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
    .action(async (o: LoginOptions, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
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
  const token = program.commands.find((c) => c.name() === "token") ?? program.command("token");
  token.command("refresh <refreshToken>").action(async (refreshToken: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    const res = await clients.auth.refreshToken({ refreshToken });
    emit(
      json,
      pairJson(res.tokens),
      () => `${res.tokens?.accessToken}\nrefresh: ${res.tokens?.refreshToken}`,
    );
  });
  token.command("revoke <token>").action(async (t: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    const r = await clients.auth.revokeToken({ token: t }, { headers: clients.orgHeaders() });
    // RFC 7009 answers OK for anything; the server says whether it was a token of this org.
    if (!r.recognized) throw new UsageError("not a token of this org: nothing was revoked");
    emit(json, { revoked: true, tokenType: r.tokenType }, () => `revoked (${r.tokenType.replace("_", " ")})`);
  });
  token.command("introspect <token>").action(async (t: string, _o: unknown, cmd: Command) => {
    const { clients, json } = clientsFor(cmd);
    const r = await clients.auth.introspectToken({ token: t }, { headers: clients.orgHeaders() });
    const out = r.active
      ? {
          active: true,
          tokenType: r.tokenType,
          sub: r.sub,
          org: r.org,
          scopes: r.scopes,
          roles: r.roles,
          exp: r.exp ? timestampDate(r.exp).toISOString() : undefined,
        }
      : { active: false };
    emit(json, out, () => JSON.stringify(out, null, 2));
  });
  const agents = program.commands.find((c) => c.name() === "agents") ?? program.command("agents");
  const keys = agents.command("keys").description("public keys an agent signs client assertions with");
  keys
    .command("add <agentId> <publicKeyFile>")
    .description("register an Ed25519 or RSA (2048+) public key, PEM or JWK")
    .action(async (agentId: string, file: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      const res = await clients.admin.registerAgentKey(
        { agentId, publicKey: readFileSync(file, "utf8") },
        { headers: clients.adminHeaders() },
      );
      emit(
        json,
        { keyId: res.keyId, alg: res.alg },
        () => `${res.keyId}  ${res.alg}  (use it as the assertion's kid)`,
      );
    });
  keys
    .command("remove <agentId> <keyId>")
    .action(async (agentId: string, keyId: string, _o: unknown, cmd: Command) => {
      const { clients, json } = clientsFor(cmd);
      await clients.admin.removeAgentKey({ agentId, keyId }, { headers: clients.adminHeaders() });
      emit(json, { removed: keyId }, () => `removed ${keyId}`);
    });
}
