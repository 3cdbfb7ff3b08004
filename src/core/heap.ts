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
