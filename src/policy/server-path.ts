/**
 * The server's own search_path (ALTER ROLE/DATABASE … SET search_path, postgresql.conf), where PostgreSQL
 * resolves unqualified names in a session whose client set none. One per listener, shared by its sessions.
 *
 * PostgreSQL skips a schema of the path that does not exist or that the user may not use (USAGE), and
 * looks again at every statement: the default `"$user", public` reads `public` until someone creates a
 * schema named as the user, and from that statement on (in every session) `t` may be `alice.t`. So policy
 * keeps two lists: `present`, the schemas the path resolves in (current_schemas(false), asked by the
 * broker), and `absent`, the ones it names but skips. A statement that may make an absent one resolve
 * (StatementInfo.pathChange: CREATE SCHEMA alice, GRANT USAGE ON SCHEMA, GRANT role …) moves it to
 * `present` when policy allows it, before it runs, for every session of the listener: what it makes
 * resolve is known without asking the server (no round trip, and also inside a transaction block, which a
 * side connection could not see into). `present` only grows: a schema that may have resolved once is
 * kept, as PolicySession.resolveIn keeps every path a session may have had. What others do outside
 * pcigate (a DBA's CREATE SCHEMA) is seen at the broker's next asking.
 *
 * Not seen at all: a session's path changed by code policy does not read (a trigger, a DEFAULT, a view's or
 * an allowed plpgsql function doing set_config('search_path', …, false)). PostgreSQL 15 sends no
 * ParameterStatus for search_path, and asking after every statement that may run such code (nearly every
 * one) would cost a round trip each. Deny patterns match an unqualified name in every schema, so only allow
 * lists can be misled; README's policy section says so and what to do.
 */
import { pathNamesUser, searchPathSchemas, unionPath } from './name-match.js';

export class ServerPath {
  #present: string[] = [];
  #absent: string[] = [];
  /** Bumped on every change; a session re-reads `present` when it differs from what it saw. */
  version = 0;
  /**
   * Whether the server's path (as asked, or as an ALTER ROLE/DATABASE … SET gave it) names `"$user"`: after
   * a SET ROLE, that is the new role's schema (PolicySession adds it).
   */
  namesUser = false;
  /** Whether the server has answered once: a session must not be judged before. */
  known = false;
  /** ALTER ROLE/DATABASE … RESET search_path: the path new sessions start with is not known until asked. */
  stale = false;

  constructor(private readonly dbUser?: string) {}

  get present(): readonly string[] { return this.#present; }
  get absent(): readonly string[] { return this.#absent; }

  /** The server's answer: its search_path setting, and the schemas of it that resolve (current_schemas(false)). */
  update(setting: string, resolving: readonly string[]): void {
    this.#namesUser(setting);
    this.#set(unionPath(this.#present, resolving), unionPath(this.#absent, searchPathSchemas(setting, this.dbUser)));
    this.known = true;
    this.stale = false;
  }

  /** A statement policy allowed may make these absent schemas resolve (name-match.ts pathGains). */
  mayResolve(schemas: readonly string[]): void {
    if (schemas.length > 0) this.#set(unionPath(this.#present, schemas), this.#absent);
  }

  /**
   * ALTER ROLE/DATABASE … SET search_path: sessions that start later may resolve in `value`'s schemas;
   * `null` (a RESET): in what the server will say, so the broker asks again before judging (stale).
   */
  defaultChanged(value: string | null): void {
    if (value === null) { this.stale = true; return; }
    this.#namesUser(value);
    this.#set(unionPath(this.#present, searchPathSchemas(value, this.dbUser)), this.#absent);
  }

  /** Only grows, as `present` does. */
  #namesUser(value: string): void {
    if (this.namesUser || !pathNamesUser(value)) return;
    this.namesUser = true;
    this.version++;
  }

  #set(present: string[], named: string[]): void {
    const absent = named.filter((s) => !present.includes(s));
    if (present.join(',') === this.#present.join(',') && absent.join(',') === this.#absent.join(',')) return;
    this.#present = present;
    this.#absent = absent;
    this.version++;
  }
}
