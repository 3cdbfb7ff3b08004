import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Below this many rules a compile leaves too little garbage to be worth a full collection. */
const LARGE_REVISION_RULES = 1_000;

let collect: (() => void) | undefined;
let pending = false;

/**
 * After a large policy revision is compiled, runs one full garbage collection, once the
 * current call has answered. Compiling leaves garbage several times the revision's own size
 * (10,000 rules: ~200 MB); V8 keeps that heap until its next full collection, which under load
 * it postpones while the old generation may grow to a multiple of the live size, so the
 * process would stay at that peak. Policy changes are rare admin events; the collection costs
 * tens of milliseconds on this worker, once. (`gc` is reached through V8's --expose-gc, set
 * at run time: Node has no other way to ask for a collection.)
 */
export function reclaimAfterCompile(ruleCount: number): void {
  if (ruleCount < LARGE_REVISION_RULES || pending) return;
  pending = true;
  setImmediate(() => {
    pending = false;
    if (!collect) {
      setFlagsFromString("--expose-gc");
      collect = runInNewContext("gc") as () => void;
    }
    collect();
  }).unref();
}

/**
 * How far the old generation may grow past what the last full collection left, in percent,
 * before the next one. V8's own factor goes up to 4× on a machine with gigabytes of memory: a
 * worker holding 40 MiB live (10,000 rules) grew to 180 MiB of old space between full
 * collections under load, since every call leaves some garbage that outlives two scavenges
 * (HTTP/2 stream and gRPC call objects still open at a scavenge). At 30% the same load keeps it
 * near 50 MiB; a full collection of 40 MiB takes ~30 ms, mostly on V8's helper threads.
 */
export const HEAP_GROWING_PERCENT = 30;

const GROWING_FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/**
 * In a serving process (a cluster worker, or the single process), at start: bounds the old
 * generation's growth to HEAP_GROWING_PERCENT, unless the operator gave V8's
 * --heap-growing-percent on node's command line (cluster workers inherit it; NODE_OPTIONS may
 * not carry it), which then stands. Returns the percent set here, or undefined.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): number | undefined {
  if (execArgv.some((a) => GROWING_FLAG.test(a))) return undefined;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}
