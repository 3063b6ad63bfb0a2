/**
 * Finds the keys a strict object accepts at a given path of the config schema, so an unknown key can be
 * answered with "did you mean". zod 4 exposes each schema's definition as `_zod.def`; this walks through
 * defaults, optionals, pipes (transforms), records, arrays and discriminated unions (picking the option by
 * the value of the discriminator in the data).
 */
import type { z } from 'zod';

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  getter?: () => z.ZodType;
}

function def(s: z.ZodType): Def {
  // zod 4 keeps the definition on `_zod.def`; its public type is per-schema, so it is read structurally.
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = def(s);
    if (d.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else return s;
  }
}

/** The object schema at `path`, choosing union options by the data; undefined when not an object. */
export function objectAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>, data: unknown): z.ZodType | undefined {
  let s = unwrap(schema);
  let v = data;
  for (const seg of path) {
    s = pickOption(s, v);
    const d = def(s);
    if (d.type === 'object' && d.shape) {
      const next = d.shape[String(seg)];
      if (!next) return undefined;
      s = unwrap(next);
    } else if (d.type === 'record' && d.valueType) {
      s = unwrap(d.valueType);
    } else if (d.type === 'array' && d.element) {
      s = unwrap(d.element);
    } else {
      return undefined;
    }
    v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  }
  s = pickOption(s, v);
  return def(s).type === 'object' ? s : undefined;
}

/** The keys a strict object at `path` accepts. */
export function keysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>, data: unknown): string[] {
  const s = objectAt(schema, path, data);
  return s ? Object.keys(def(s).shape ?? {}) : [];
}

function pickOption(s: z.ZodType, v: unknown): z.ZodType {
  const d = def(s);
  if (d.type !== 'union' || !d.options) return s;
  if (d.discriminator && v !== null && typeof v === 'object') {
    const want = (v as Record<string, unknown>)[d.discriminator];
    for (const o of d.options) {
      const od = def(unwrap(o));
      const lit = od.shape?.[d.discriminator];
      if (lit && (def(lit) as Def & { values?: unknown[] }).values?.includes(want)) return unwrap(o);
    }
  }
  const firstObject = d.options.map(unwrap).find((o) => def(o).type === 'object');
  return firstObject ?? s;
}
