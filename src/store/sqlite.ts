import {createRequire} from 'node:module'
import Database from 'better-sqlite3'

let addon: object | undefined

/**
 * A better-sqlite3 database whose native addon is loaded once, from the installed package, and
 * handed over: fleet's build bundles the package's JavaScript (scripts/build.mjs), and left to
 * itself it would look for the addon through the `bindings` package, which tries path after path.
 */
export function openDatabase(path: string, options: Database.Options = {}): Database.Database {
  addon ??= createRequire(import.meta.url)('better-sqlite3/build/Release/better_sqlite3.node') as object
  // The typings only know the path form; an addon object is accepted too (better-sqlite3's lib/database.js).
  return new Database(path, {...options, nativeBinding: addon as unknown as string})
}
