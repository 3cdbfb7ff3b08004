import {
  type CelFunc,
  type CelList,
  CelScalar,
  type CelValue,
  celFunc,
  isCelList,
  listType,
} from "@bufbuild/cel";

/**
 * @bufbuild/cel recognises a list by this registered symbol (`isCelList`). We brand our own
 * list with it: the library's `+` on lists builds a lazy chain (one level per `+`), so the list
 * `map()` or `filter()` returns over n items is n levels deep, and every later read of it walks
 * the chain (n² for one pass, and a stack overflow past a few thousand). The unit tests fail
 * if the library stops recognising the brand.
 */
const LIST_BRAND = Symbol.for("@bufbuild/cel/list");

/**
 * A list that is a prefix of a shared array. Appending to the list that ends at the array's
 * end pushes onto the array (like a Go slice): `map()` and `filter()`, which append one item
 * per step to the list they built, cost O(n) in all instead of O(n²).
 */
class SliceList {
  constructor(
    readonly items: CelValue[],
    readonly size: number,
  ) {}

  get(index: number): CelValue | undefined {
    return index >= 0 && index < this.size ? this.items[index] : undefined;
  }

  *values(): IterableIterator<CelValue> {
    for (let i = 0; i < this.size; i++) yield this.items[i] as CelValue;
  }

  [Symbol.iterator](): IterableIterator<CelValue> {
    return this.values();
  }
}

// On the prototype, not each instance: `isCelList` asks `symbol in v`, and a list per step of
// map() should not also allocate a brand object.
Object.defineProperty(SliceList.prototype, LIST_BRAND, { value: true });

/**
 * `a + b` on lists, flat. `charge(n)` is told how many elements were copied, so the caller
 * can meter it: the length of `b` when `a` could be appended to, else both.
 */
export function concatLists(a: CelList, b: CelList, charge: (copied: number) => void): CelList {
  if (b.size === 0) return a;
  let items: CelValue[];
  if (a instanceof SliceList && a.items.length === a.size) {
    charge(b.size);
    items = a.items;
  } else {
    charge(a.size + b.size);
    items = Array.from(a);
  }
  for (let i = 0; i < b.size; i++) items.push(b.get(i) as CelValue);
  return new SliceList(items, items.length) as unknown as CelList;
}

/** Whether the library takes our lists as lists (checked by a unit test). */
export function isFlatList(v: unknown): boolean {
  return v instanceof SliceList && isCelList(v);
}

const LIST = listType(CelScalar.DYN);

/** The `_+_(list, list)` overload, replacing the library's (same name and signature). */
export function listConcatFunc(charge: (copied: number) => void): CelFunc {
  return celFunc("_+_", [LIST, LIST], LIST, (a, b) => concatLists(a, b, charge));
}
