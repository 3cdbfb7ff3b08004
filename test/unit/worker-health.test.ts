import { describe, expect, it } from "vitest";
import { WorkerHealth } from "../../src/cluster.js";

describe("what the primary's health port says of its workers", () => {
  it("ready while one worker takes calls; live until a worker is silent for over 10 s", () => {
    let now = 0;
    const h = new WorkerHealth(() => now);
    expect(h.report()).toMatchObject({ live: true, ready: false, detail: { workers: 0 } });
    h.heard(1, true);
    h.heard(2, false);
    expect(h.report()).toMatchObject({
      live: true,
      ready: true,
      detail: { workers: 2, ready: 1, silent: 0 },
    });
    now = 9_000;
    h.heard(2, false);
    expect(h.report()).toMatchObject({ live: true, ready: true });
    now = 10_500; // worker 1 last spoke at 0
    expect(h.report()).toMatchObject({ live: false, ready: false, detail: { silent: 1 } });
    h.gone(1);
    expect(h.report()).toMatchObject({ live: true, ready: false, detail: { workers: 1 } });
    h.heard(2, true);
    expect(h.report()).toMatchObject({ live: true, ready: true });
  });
});
