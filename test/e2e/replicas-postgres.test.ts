import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../gen/grpc/health/v1/health_pb.js";
import { AdminService } from "../../gen/tessera/v1/admin_service_pb.js";
import { Decision } from "../../gen/tessera/v1/auth_service_pb.js";
import { Tier } from "../../gen/tessera/v1/types_pb.js";
import { cliEnv, type ServeProcess, type ServeReady, spawnServe } from "../helpers/cli.js";
import { expectOk } from "../helpers/e2e.js";
import { freshAuthClient, grpcClient } from "../helpers/grpc-client.js";
import { createTestDatabase, pgSkipReason } from "../helpers/pg.js";
import { childrenOf } from "../helpers/processes.js";
import { tempDir } from "../helpers/server.js";
import { clientsForEveryWorker, type PerWorker, type WorkerClients } from "../helpers/workers.js";

/**
 * Issue #14, the proof: three `tessera serve --workers 2` replicas on one PostgreSQL database.
 * One development org although they start together; a revocation through one replica refused
 * on every worker of the others within a second; a policy put through one decided with on every
 * worker of another within a second; a replica killed (SIGKILL, primary and workers) while it
 * writes loses no acknowledged write and stops no other replica; and a replica cut from the
 * database keeps deciding from memory, says NOT_SERVING once it is staler than --max-staleness,
 * and comes back by itself, honouring what changed meanwhile.
 */

const WORKERS = 2;
/** Every poll waits this long between rounds. */
const POLL_MS = 20;
const ALLOWED = "ALLOWED_BY_RULE";
const REVOKED = "UNAUTHENTICATED TOKEN_REVOKED";
/** Replica 3's --max-staleness, in seconds: it reaches PostgreSQL through the proxy below. */
const STALENESS_S = 2;
/** How many times replica 3 is cut off while it answers, in the last test. */
const CUTS = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `f` every POLL_MS until `done` holds for its answer or `boundMs` passed: the last answer,
 * whether `done` held, and the milliseconds from the first call until then (for the test to
 * assert on, so a bound that ran out fails showing what was seen).
 */
async function poll<T>(
  f: () => Promise<T>,
  done: (v: T) => boolean,
  boundMs: number,
): Promise<{ last: T; met: boolean; ms: number }> {
  const start = Date.now();
  for (;;) {
    const last = await f();
    const ms = Date.now() - start;
    if (done(last)) return { last, met: true, ms };
    if (ms > boundMs) return { last, met: false, ms };
    await sleep(POLL_MS);
  }
}

/** GET `path` on a health port: the HTTP status, or 0 when nothing answered within a second. */
function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(1_000, () => {
      req.destroy();
      resolve(0);
    });
    req.on("error", () => resolve(0));
  });
}

/** True while `pid` is a process that has not ended (a zombie has ended). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * A TCP proxy in front of PostgreSQL, to cut one replica off the database and restore it.
 * cut() stops accepting (the port refuses) and destroys every open connection; restore()
 * listens on the same port again.
 */
class DbProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
      }
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Connections open through the proxy now. */
  get connections(): number {
    return this.sockets.size;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  restore(): Promise<void> {
    return this.open();
  }
}

/** A running replica: its process, its ports, and one client per worker. */
interface Replica {
  readonly name: string;
  readonly serve: ServeProcess;
  readonly ready: ServeReady;
  workers: WorkerClients;
}

type AuthClient = ReturnType<typeof freshAuthClient>;

describe.skipIf(pgSkipReason !== undefined)(
  `three replicas with --workers ${WORKERS} on one PostgreSQL database${pgSkipReason ? ` (skipped: ${pgSkipReason})` : ""}`,
  () => {
    const masterKey = randomBytes(32).toString("base64");
    const dirs = [tempDir(), tempDir(), tempDir()];
    let database: { url: string; drop: () => Promise<void> } | undefined;
    let proxy: DbProxy | undefined;
    /** Every serve process started, stopped at the end whatever happened. */
    let serves: ServeProcess[] = [];
    const replicas: Replica[] = [];
    /** The development org's admin headers, from the one replica that created it. */
    let admin: Record<string, string> = {};
    let apiKey: Record<string, string> = {};
    /** An agent of the development org (an operator: the example policy allows it governance:read). */
    let agentId = "";
    /** A token nobody revokes: the "valid token" of the later steps. */
    let kept = "";

    const replica = (i: number): Replica => replicas[i] ?? expect.unreachable(`no replica ${i + 1}`);

    beforeAll(async () => {
      database = await createTestDatabase();
      const target = new URL(database.url);
      proxy = new DbProxy(target.hostname, Number(target.port || 5432));
      await proxy.open();
      const proxied = new URL(database.url);
      proxied.hostname = "127.0.0.1";
      proxied.port = String(proxy.port);
      const common = [
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--health-port",
        "0",
        "--workers",
        String(WORKERS),
      ];
      const env = (i: number, extra: Record<string, string> = {}) =>
        cliEnv(dirs[i]?.dir ?? "", { TESSERA_MASTER_KEY: masterKey, ...extra });
      // All three at once, on an empty database: the bootstrap race is part of the proof.
      // Replicas 1 and 2 name the database with --database; replica 3 with TESSERA_DATABASE_URL,
      // through the proxy, and is the one cut off in the staleness test.
      serves = [
        spawnServe(["--data-dir", dirs[0]?.dir ?? "", "--database", database.url, ...common], env(0), 45_000),
        spawnServe(["--data-dir", dirs[1]?.dir ?? "", "--database", database.url, ...common], env(1), 45_000),
        spawnServe(
          [
            "--data-dir",
            dirs[2]?.dir ?? "",
            "--max-staleness",
            `${STALENESS_S}s`,
            "--decision-log-spill-retry",
            "1s",
            ...common,
          ],
          env(2, { TESSERA_DATABASE_URL: proxied.toString() }),
          45_000,
        ),
      ];
      const readies = await Promise.allSettled(serves.map((s) => s.ready));
      for (const [i, r] of readies.entries()) {
        const serve = serves[i] as ServeProcess;
        if (r.status === "rejected") throw new Error(`replica ${i + 1} did not start: ${String(r.reason)}`);
        replicas.push({ name: `replica ${i + 1}`, serve, ready: r.value, workers: undefined as never });
      }
      for (const r of replicas) r.workers = await clientsForEveryWorker(r.ready.grpcPort, WORKERS);
    }, 90_000);

    // A failed step shows what each replica wrote to stderr (a crashed worker's stack is there).
    beforeEach((ctx) => {
      ctx.onTestFailed(() => {
        for (const r of replicas)
          console.error(`${r.name}, stderr (last 3000 characters):\n${r.serve.stderr().slice(-3000)}`);
      });
    });

    afterAll(async () => {
      for (const r of replicas) r.workers?.close();
      await Promise.all(serves.map((s) => s.stop("SIGTERM", 10_000).catch(() => s.stop("SIGKILL"))));
      await proxy?.cut().catch(() => {});
      await database?.drop();
      for (const d of dirs) d.cleanup();
    }, 30_000);

    /** An AdminService call on a connection of its own to `r`. */
    async function adminCall<T>(
      r: Replica,
      f: (c: ReturnType<typeof grpcClient<typeof AdminService.method>>) => Promise<T>,
    ): Promise<T> {
      const c = grpcClient(AdminService, `127.0.0.1:${r.ready.grpcPort}`);
      try {
        return await f(c);
      } finally {
        c.close();
      }
    }

    /** What Authorize with `token` answers on one connection: the reason, or the failure's code and reason. */
    const answer = (token: string) => async (c: AuthClient) => {
      const r = await c.call("authorize", {
        subject: { case: "token", value: token },
        scope: "governance:read",
      });
      return r.ok ? r.value.reason : `${grpc.status[r.error.code]} ${r.error.reason}`;
    };

    /** `f` asked on every worker of each replica: replica name → worker id → answer. */
    async function everywhere<T>(
      rs: readonly Replica[],
      f: (c: AuthClient, id: number) => Promise<T>,
    ): Promise<Record<string, PerWorker<T>>> {
      const seen = await Promise.all(rs.map((r) => r.workers.each(f)));
      return Object.fromEntries(rs.map((r, i) => [r.name, seen[i] as PerWorker<T>]));
    }
    const everywhereIs = <T>(rs: readonly Replica[], value: T) =>
      Object.fromEntries(rs.map((r) => [r.name, r.workers.all(value)]));
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

    /**
     * Asks `f` on every worker of each replica, each worker in a loop of its own (every POLL_MS),
     * until that worker answers `expected` or `boundMs` passed: every worker's last answer, and
     * the milliseconds until the last of them answered `expected` (the time until every worker
     * did). Each connection is checked afterwards to be still on its worker (WorkerClients.each).
     */
    async function untilEvery<T>(
      rs: readonly Replica[],
      f: (c: AuthClient) => Promise<T>,
      expected: T,
      boundMs: number,
    ): Promise<{ seen: Record<string, PerWorker<T>>; ms: number }> {
      const start = Date.now();
      let ms = 0;
      const one = async (r: Replica, id: number): Promise<T> => {
        const got = await poll(
          () => f(r.workers.client(id)),
          (v) => same(v, expected),
          boundMs,
        );
        ms = Math.max(ms, Date.now() - start);
        return got.last;
      };
      const seen = await Promise.all(
        rs.map(async (r) => {
          const answers = await Promise.all(r.workers.ids.map(async (id) => [id, await one(r, id)] as const));
          await r.workers.each(async () => undefined);
          return [r.name, Object.fromEntries(answers) as PerWorker<T>] as const;
        }),
      );
      return { seen: Object.fromEntries(seen), ms };
    }

    /** What grpc.health.v1 Check says on each worker of `r` (asked on that worker's connection). */
    const servingOf = (r: Replica) => async (_c: AuthClient, id: number) => {
      const res = await r.workers.on(Health, id).call("check", { service: "" });
      return res.ok ? Serving[res.value.status] : `${grpc.status[res.error.code]} ${res.error.reason}`;
    };

    async function mint(r: Replica): Promise<string> {
      const c = freshAuthClient(r.ready.grpcPort);
      try {
        const req = { agentId, scopes: ["governance:read"], ttl: { seconds: 600n } };
        return expectOk(await c.call("mintToken", req, admin)).token;
      } finally {
        c.close();
      }
    }

    it("creates one development org although the three start together, and every replica knows it", async () => {
      const banners = replicas.filter((r) => r.ready.exports.TESSERA_ADMIN_TOKEN !== undefined);
      expect(banners.map((r) => r.name)).toHaveLength(1);
      const creator = banners[0] ?? expect.unreachable();
      admin = {
        "x-api-key": creator.ready.exports.TESSERA_API_KEY ?? "",
        "x-admin-token": creator.ready.exports.TESSERA_ADMIN_TOKEN ?? "",
      };
      apiKey = { "x-api-key": admin["x-api-key"] ?? "" };
      const client = new pg.Client({ connectionString: database?.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string }>("SELECT id FROM orgs");
        expect(rows).toHaveLength(1);
        const orgId = rows[0]?.id ?? "";
        // Every worker of every replica takes the org's API key and names the same org.
        const orgOf = async (c: AuthClient) => {
          const res = await c.call("getServerStatus", {}, apiKey);
          return res.ok ? res.value.orgId : `${grpc.status[res.error.code]} ${res.error.reason}`;
        };
        const seen = await poll(
          () => everywhere(replicas, orgOf),
          (v) => same(v, everywhereIs(replicas, orgId)),
          3_000,
        );
        expect(seen.last).toEqual(everywhereIs(replicas, orgId));
      } finally {
        await client.end();
      }
    });

    it("refuses a token revoked through replica 1 on every worker of replicas 2 and 3 within a second", async () => {
      const r1 = replica(0);
      const others = [replica(1), replica(2)];
      const created = await adminCall(r1, (c) =>
        c.call("createAgent", { name: "replicated", tier: Tier.VERIFIED, roles: ["operator"] }, admin),
      );
      agentId = expectOk(created).agent?.id ?? "";
      const token = await mint(r1);
      kept = await mint(r1);
      // Replicas 2 and 3 learn the agent (and its key) from the change log: allowed everywhere first.
      const before = await poll(
        () => everywhere(others, answer(token)),
        (v) => same(v, everywhereIs(others, ALLOWED)),
        3_000,
      );
      expect(before.last).toEqual(everywhereIs(others, ALLOWED));

      const sent = Date.now();
      const c = freshAuthClient(r1.ready.grpcPort);
      try {
        expectOk(await c.call("revokeToken", { token }, apiKey));
      } finally {
        c.close();
      }
      const acknowledged = Date.now();
      const after = await untilEvery(others, answer(token), REVOKED, 3_000);
      const fromSend = acknowledged - sent + after.ms;
      console.log(
        `replicas-postgres: revocation through replica 1 refused on every worker of replicas 2 and 3 in ${fromSend} ms (${after.ms} ms after the acknowledgement)`,
      );
      expect(after.seen).toEqual(everywhereIs(others, REVOKED));
      expect(fromSend).toBeLessThanOrEqual(1_000);
      // The token kept is still allowed: the revocation was of that one token only.
      expect(await everywhere(others, answer(kept))).toEqual(everywhereIs(others, ALLOWED));
    });

    it("decides with a policy put through replica 2 on every worker of replica 3 within a second", async () => {
      const r3 = replica(2);
      const scope = "replicas:read";
      const decide = async (c: AuthClient) => {
        const query = {
          subject: { case: "attributes" as const, value: { id: "someone", tier: Tier.VERIFIED, roles: [] } },
          scope,
        };
        const d = expectOk(await c.call("authorize", query, apiKey));
        return `${Decision[d.decision]}@${d.policyRevision}`;
      };
      const first = await everywhere([r3], decide);
      expect(Object.values(first[r3.name] ?? {}).every((d) => d.startsWith("DENY@"))).toBe(true);

      const doc = `apiVersion: tessera.dev/v1
kind: Policy
metadata: { name: replicas }
spec:
  rules:
    - { name: everyone-reads, scopes: ["${scope}"], effect: allow }
`;
      const sent = Date.now();
      const put = await adminCall(replica(1), (c) => c.call("putPolicy", { document: doc }, admin));
      const revision = expectOk(put).revision;
      const acknowledged = Date.now();
      const want = `ALLOW@${revision}`;
      const after = await untilEvery([r3], decide, want, 3_000);
      console.log(
        `replicas-postgres: policy revision ${revision} put through replica 2 decided on every worker of replica 3 ${after.ms} ms after PutPolicy was acknowledged (PutPolicy itself took ${acknowledged - sent} ms)`,
      );
      expect(after.seen).toEqual(everywhereIs([r3], want));
      // Counted from the acknowledgement: PutPolicy validates and compiles the documents on the
      // replica that takes it before it answers, which is the writer's latency, not replication.
      expect(after.ms).toBeLessThanOrEqual(1_000);
    });

    it("loses no write acknowledged by replica 1 when it is killed while writing, and the others keep serving", async () => {
      const r1 = replica(0);
      const others = [replica(1), replica(2)];
      const acknowledged: string[] = [];
      const endedWith: string[] = [];
      let killed = false;
      const writeUntil = Date.now() + 15_000;
      // One writer on each worker of replica 1, each creating agents one after another.
      const writers = r1.workers.ids.map(async (id) => {
        const adminOn = r1.workers.on(AdminService, id);
        for (let i = 0; Date.now() < writeUntil; i++) {
          const res = await adminOn.call(
            "createAgent",
            { name: `w${id}-${i}`, tier: Tier.VERIFIED, roles: ["viewer"] },
            admin,
          );
          if (!res.ok) {
            endedWith.push(
              killed ? "failed after the kill" : `${grpc.status[res.error.code]} ${res.error.reason}`,
            );
            return;
          }
          acknowledged.push(res.value.agent?.id ?? "");
        }
        endedWith.push("still writing at the bound");
      });
      const enough = await poll(
        async () => acknowledged.length,
        (n) => n >= 20,
        10_000,
      );
      expect(enough.met).toBe(true);
      // The primary first stopped (it can fork no replacement), then every worker and the primary killed.
      const primary = r1.serve.child.pid ?? 0;
      process.kill(primary, "SIGSTOP");
      const pids = [...childrenOf(primary), primary];
      expect(pids).toHaveLength(WORKERS + 1);
      for (const pid of pids) process.kill(pid, "SIGKILL");
      killed = true;
      await Promise.all(writers);
      // Every writer was writing when the kill came, and its next call failed for it.
      expect(endedWith).toEqual(r1.workers.ids.map(() => "failed after the kill"));
      const gone = await poll(
        async () => pids.filter(alive),
        (left) => left.length === 0,
        5_000,
      );
      expect(gone.last).toEqual([]);

      // Replicas 2 and 3 keep deciding, on every worker.
      expect(await everywhere(others, answer(kept))).toEqual(everywhereIs(others, ALLOWED));
      // Every agent replica 1 acknowledged is there, listed through replica 2.
      const listed = async () => {
        const res = await adminCall(replica(1), (c) => c.call("listAgents", {}, admin));
        const ids = new Set(expectOk(res).agents.map((a) => a.id));
        return acknowledged.filter((id) => !ids.has(id));
      };
      const missing = await poll(listed, (m) => m.length === 0, 2_000);
      console.log(
        `replicas-postgres: ${acknowledged.length} agents acknowledged by replica 1 before SIGKILL`,
      );
      expect(missing.last).toEqual([]);
    });

    it("replica 3 cut from PostgreSQL keeps deciding from memory, turns NOT_SERVING, and comes back by itself", async () => {
      const r2 = replica(1);
      const r3 = replica(2);
      const db = proxy ?? expect.unreachable();
      const healthPort = r3.ready.healthPort ?? 0;
      const grpcHealth = servingOf(r3);
      // Revoked through replica 2 while replica 3 is cut off: allowed everywhere on replica 3 first.
      const revokedMeanwhile = await mint(r2);
      const allowed = await poll(
        () => everywhere([r3], answer(revokedMeanwhile)),
        (v) => same(v, everywhereIs([r3], ALLOWED)),
        3_000,
      );
      expect(allowed.last).toEqual(everywhereIs([r3], ALLOWED));
      expect(await httpStatus(healthPort, "/readyz")).toBe(200);
      expect(await everywhere([r3], grpcHealth)).toEqual(everywhereIs([r3], "SERVING"));
      expect(db.connections).toBeGreaterThan(0);
      const primary = r3.serve.child.pid ?? 0;
      const pids = [primary, ...childrenOf(primary)];
      expect(pids).toHaveLength(WORKERS + 1);

      // Quiet first: the decisions answered above are written (the log holds them up to 100 ms),
      // so none is left for the decision log to spill after the cut. Then only the health port is
      // asked until it says 503: the staleness alone can make replica 3 unready.
      await sleep(500);
      await db.cut();
      const unready = await poll(
        () => httpStatus(healthPort, "/readyz"),
        (s) => s === 503,
        STALENESS_S * 1_000 + 6_000,
      );
      console.log(`replicas-postgres: replica 3 /readyz answered 503 ${unready.ms} ms after the cut`);
      expect(unready.last).toBe(503);
      // Not at the connection's loss: once the change log has gone unread for about --max-staleness
      // (its last read may be a sync interval, 250 ms, before the cut; half of it is the bound here).
      expect(unready.ms).toBeGreaterThanOrEqual((STALENESS_S * 1_000) / 2);
      // Unready because it is stale, not because a process died: the primary and every worker live on.
      expect(pids.filter(alive)).toEqual(pids);
      expect(await httpStatus(healthPort, "/livez")).toBe(200);
      const notServing = await poll(
        () => everywhere([r3], grpcHealth),
        (v) => same(v, everywhereIs([r3], "NOT_SERVING")),
        3_000,
      );
      expect(notServing.last).toEqual(everywhereIs([r3], "NOT_SERVING"));

      const revoke = freshAuthClient(r2.ready.grpcPort);
      try {
        expectOk(await revoke.call("revokeToken", { token: revokedMeanwhile }, apiKey));
      } finally {
        revoke.close();
      }
      // Still deciding from memory, on every worker, while unready.
      expect(await everywhere([r3], answer(kept))).toEqual(everywhereIs([r3], ALLOWED));
      expect(await httpStatus(healthPort, "/readyz")).toBe(503);

      await db.restore();
      const ready = await poll(
        () => httpStatus(healthPort, "/readyz"),
        (s) => s === 200,
        15_000,
      );
      console.log(`replicas-postgres: replica 3 ready again ${ready.ms} ms after the proxy came back`);
      expect(ready.last).toBe(200);
      const serving = await poll(
        () => everywhere([r3], grpcHealth),
        (v) => same(v, everywhereIs([r3], "SERVING")),
        15_000,
      );
      expect(serving.last).toEqual(everywhereIs([r3], "SERVING"));
      // Caught up: the revocation made while it was cut off is honoured on every worker.
      const caughtUp = await poll(
        () => everywhere([r3], answer(revokedMeanwhile)),
        (v) => same(v, everywhereIs([r3], REVOKED)),
        1_000,
      );
      expect(caughtUp.last).toEqual(everywhereIs([r3], REVOKED));
      expect(await everywhere([r3], answer(kept))).toEqual(everywhereIs([r3], ALLOWED));
      // Through it all, no process of replica 3 ended: it came back by itself, not by a restart.
      expect(pids.filter(alive)).toEqual(pids);
    }, 45_000);

    it("replica 3 cut off again and again while it answers Authorize: every call answered from memory, no process ends", async () => {
      const r3 = replica(2);
      const db = proxy ?? expect.unreachable();
      const healthPort = r3.ready.healthPort ?? 0;
      const primary = r3.serve.child.pid ?? 0;
      const pids = [primary, ...childrenOf(primary)];
      expect(pids).toHaveLength(WORKERS + 1);
      // Decisions keep coming on every worker, so the cuts fall while the decision log writes
      // (transactions open on the database) as well as between writes.
      let stop = false;
      const wrong: string[] = [];
      let answered = 0;
      const callers = r3.workers.ids.map(async (id) => {
        const c = r3.workers.client(id);
        while (!stop) {
          const a = await answer(kept)(c);
          answered++;
          if (a !== ALLOWED) {
            // The first wrong answer is the one to show (after a worker dies, every call fails).
            wrong.push(`worker ${id}: ${a}`);
            return;
          }
        }
      });
      try {
        for (let i = 0; i < CUTS; i++) {
          await sleep(300);
          await db.cut();
          await sleep(300);
          await db.restore();
        }
      } finally {
        stop = true;
        await Promise.all(callers);
      }
      console.log(`replicas-postgres: ${answered} Authorize calls answered on replica 3 across ${CUTS} cuts`);
      expect(wrong).toEqual([]);
      expect(answered).toBeGreaterThan(CUTS);
      expect(pids.filter(alive)).toEqual(pids);
      const ready = await poll(
        () => httpStatus(healthPort, "/readyz"),
        (s) => s === 200,
        15_000,
      );
      expect(ready.last).toBe(200);
      const serving = await poll(
        () => everywhere([r3], servingOf(r3)),
        (v) => same(v, everywhereIs([r3], "SERVING")),
        15_000,
      );
      expect(serving.last).toEqual(everywhereIs([r3], "SERVING"));
    }, 30_000);
  },
);
