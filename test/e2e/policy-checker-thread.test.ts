import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { PolicyChecker } from "../../src/core/policy-checker.js";
import type { CheckJob } from "../../src/engine/check.js";

// Under vitest only the .ts sources exist; the thread runs the build's copy (npm test builds first).
const THREAD = new URL("../../dist/src/core/policy-check-thread.js", import.meta.url);

const digits = "[0,1,2,3,4,5,6,7,8,9]";
/** A document of n rules, each condition a distinct constant near the CEL budget: slow to check, but valid. */
const heavy = (n: number) =>
  [
    "apiVersion: tessera.dev/v1",
    "kind: Policy",
    "metadata: { name: heavy }",
    "spec:",
    "  rules:",
    ...Array.from(
      { length: n },
      (_, i) =>
        `    - { name: r${i}, scopes: ["a:b"], effect: allow, condition: '${digits}.all(a, ${digits}.all(b, ${digits}.all(c, a + b + c >= 0))) && ${i} >= 0' }`,
    ),
  ].join("\n");

const job = (candidate: string, file = "p.yaml"): CheckJob => ({
  op: "validate",
  orgId: "o",
  stored: [],
  candidate,
  file,
});
const SMALL = `apiVersion: tessera.dev/v1\nkind: Policy\nmetadata: { name: small }\nspec:\n  rules:\n    - { name: r, scopes: ["a:b"], effect: allow }\n`;

describe("the policy checker's thread", () => {
  let checker: PolicyChecker | undefined;
  afterEach(async () => {
    await checker?.close();
  });

  it("is built (npm run build)", () => {
    expect(existsSync(fileURLToPath(THREAD))).toBe(true);
  });

  it("checks away from the event loop: timers keep firing while a long check runs", async () => {
    checker = new PolicyChecker({ threadUrl: THREAD, deadlineMs: 60_000 });
    await checker.run(job(SMALL)); // the thread is up
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let ticksWhenDone = -1;
    const done = checker.run(job(heavy(60))).finally(() => {
      ticksWhenDone = ticks;
    });
    // A timer that fires before the check answers proves the loop was free meanwhile.
    while (ticksWhenDone < 0 && ticks < 5) await new Promise((r) => setTimeout(r, 1));
    expect(ticks).toBeGreaterThanOrEqual(5);
    await expect(done).resolves.toEqual({ names: ["heavy"], ruleCount: 60 });
    clearInterval(timer);
    expect(ticksWhenDone).toBeGreaterThanOrEqual(5);
  });

  it("terminates a check past its deadline with POLICY_TOO_COMPLEX, then checks the next on a new thread", async () => {
    checker = new PolicyChecker({ threadUrl: THREAD, deadlineMs: 100 });
    await expect(checker.run(job(heavy(400), "heavy.yaml"))).rejects.toMatchObject({
      reason: "POLICY_TOO_COMPLEX",
      details: { file: "heavy.yaml" },
    });
    await expect(checker.run(job(SMALL))).resolves.toEqual({ names: ["small"], ruleCount: 1 });
  });

  it("passes a refusal on with its reason and position", async () => {
    checker = new PolicyChecker({ threadUrl: THREAD });
    const bad = SMALL.replace("effect: allow", "effect: permit");
    await expect(checker.run(job(bad))).rejects.toMatchObject({
      reason: "POLICY_INVALID",
      details: { file: "p.yaml", rule: "r", line: "6" },
    });
    const nested = SMALL.replace(
      "effect: allow }",
      `effect: allow, condition: '${digits}.all(a, ${digits}.all(b, ${digits}.all(c, ${digits}.all(d, true))))' }`,
    );
    await expect(checker.run(job(nested))).rejects.toMatchObject({ reason: "POLICY_TOO_COMPLEX" });
  });

  it("refuses checks beyond its queue with POLICY_CHECKS_BUSY, and runs the rest", async () => {
    checker = new PolicyChecker({ threadUrl: THREAD, maxWaiting: 2 });
    const runs = Array.from({ length: 5 }, () =>
      checker?.run(job(SMALL)).then(
        () => "ok",
        (e) => e.reason,
      ),
    );
    // One runs (or waits for the thread to start), two wait, two are refused at once.
    expect((await Promise.all(runs)).sort()).toEqual([
      "POLICY_CHECKS_BUSY",
      "POLICY_CHECKS_BUSY",
      "ok",
      "ok",
      "ok",
    ]);
  });

  it("stops its thread once idle for idleMs, and starts a new one for the next check", async () => {
    checker = new PolicyChecker({ threadUrl: THREAD, idleMs: 200 });
    expect(checker.threadUp).toBe(false);
    await expect(checker.run(job(SMALL))).resolves.toEqual({ names: ["small"], ruleCount: 1 });
    expect(checker.threadUp).toBe(true);
    // A check within idleMs of the last one finds the thread still up.
    await new Promise((r) => setTimeout(r, 50));
    await expect(checker.run(job(SMALL))).resolves.toEqual({ names: ["small"], ruleCount: 1 });
    expect(checker.threadUp).toBe(true);
    const until = Date.now() + 5_000;
    while (checker.threadUp && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(checker.threadUp).toBe(false);
    // The stop is no failure: the next check runs on a new thread, refusals included.
    await expect(checker.run(job(SMALL))).resolves.toEqual({ names: ["small"], ruleCount: 1 });
    await expect(checker.run(job(SMALL.replace("effect: allow", "effect: permit")))).rejects.toMatchObject({
      reason: "POLICY_INVALID",
    });
    expect(checker.threadUp).toBe(true);
  });
});
