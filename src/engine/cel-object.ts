import { type CelInput, type CelMap, celMap } from "@bufbuild/cel";

/** A plain JSON-like object: what Struct fields and our own bindings are made of. */
function isPlainObject(v: unknown): v is Readonly<Record<string, unknown>> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A read-only Map view of a plain object's own properties, with nested plain objects viewed
 * the same way on access. @bufbuild/cel turns a plain object into a CEL map by copying every
 * entry into a new Map on each access; a view copies nothing, so a condition that reads one
 * attribute costs one property read.
 */
class ObjectView implements ReadonlyMap<string, CelInput> {
  constructor(private readonly obj: Readonly<Record<string, unknown>>) {}

  get size(): number {
    return Object.keys(this.obj).length;
  }

  get(key: string): CelInput | undefined {
    if (typeof key !== "string" || !Object.hasOwn(this.obj, key)) return undefined;
    return celValueOf(this.obj[key]);
  }

  has(key: string): boolean {
    return typeof key === "string" && Object.hasOwn(this.obj, key);
  }

  forEach(callback: (value: CelInput, key: string, map: ReadonlyMap<string, CelInput>) => void): void {
    for (const key of Object.keys(this.obj)) callback(celValueOf(this.obj[key]), key, this);
  }

  *entries(): MapIterator<[string, CelInput]> {
    for (const key of Object.keys(this.obj)) yield [key, celValueOf(this.obj[key])];
  }

  *keys(): MapIterator<string> {
    yield* Object.keys(this.obj);
  }

  *values(): MapIterator<CelInput> {
    for (const key of Object.keys(this.obj)) yield celValueOf(this.obj[key]);
  }

  [Symbol.iterator](): MapIterator<[string, CelInput]> {
    return this.entries();
  }
}

/** What the object holds, as CEL takes it; @bufbuild/cel converts the rest (lists, numbers) itself. */
function celValueOf(v: unknown): CelInput {
  return (isPlainObject(v) ? celObject(v) : v) as CelInput;
}

/** A plain object as a CEL map, without copying it (see ObjectView). */
export function celObject(obj: Readonly<Record<string, unknown>>): CelMap {
  return celMap(new ObjectView(obj));
}
