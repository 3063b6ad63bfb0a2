/**
 * The broker's answers to "which of these names, written as fields, are functions" (PolicyHooksOptions.
 * fieldFunctions), kept per listener. pgjdbc's getPrimaryKeys reads `(i.keys).x` on every call and psql's `\dF+`
 * sends 29 statements with such fields: asked on a side connection each time, each cost a connection.
 */
import { turnBatch } from './turn-batch.js';

/** How long an answer is kept: a function created outside the listener (another client, a DO block) counts after this. */
export const FIELD_FUNCTIONS_TTL_MS = 60_000;

/**
 * Answers by name, "a function" and "not a function" alike, for {@link FIELD_FUNCTIONS_TTL_MS}; names asked in the
 * same event-loop turn share one lookup (turnBatch). A failed lookup is not kept: the caller counts every name as
 * a call (fail closed) and the next statement asks again. `forget()` drops every answer, and any lookup under
 * way is not kept either: the broker calls it when DDL passes (CREATE FUNCTION, CREATE EXTENSION …) and again when
 * it has run.
 */
export class FieldFunctionCache {
  readonly #known = new Map<string, { fn: boolean; at: number }>();
  readonly #now: () => number;
  readonly #one: (name: string) => Promise<boolean>;
  #generation = 0;

  /** `lookup`: which of `names` are functions (the side query). */
  constructor(lookup: (names: readonly string[]) => Promise<readonly string[]>, now: () => number) {
    this.#now = now;
    this.#one = turnBatch(async (names: string[]) => {
      const found = new Set(await lookup(names));
      return new Map(names.map((n) => [n, found.has(n)]));
    });
  }

  /** Which of `names` are functions. */
  async functions(names: readonly string[]): Promise<string[]> {
    const now = this.#now();
    const generation = this.#generation;
    const answers = await Promise.all(names.map(async (name) => {
      const k = this.#known.get(name);
      if (k && now - k.at < FIELD_FUNCTIONS_TTL_MS) return k.fn;
      const fn = await this.#one(name);
      if (generation === this.#generation) this.#known.set(name, { fn, at: now });
      return fn;
    }));
    return names.filter((_, i) => answers[i]);
  }

  /** Drops every answer (the catalog may have changed). */
  forget(): void {
    this.#known.clear();
    this.#generation++;
  }
}
