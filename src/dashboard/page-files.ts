import {existsSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {packageRoot} from '../remote-agent/local-agent.js'

/** The page's files (src/dashboard/page/), no build step: the build copies them to dist/dashboard/. */
export const PAGE_FILES = ['index.html', 'app.mjs', 'app.css'] as const

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.mjs': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
}

export interface PageFile {
  type: string
  body: string
}

/** Where they are: beside this module when it runs from the source, else the build's copy. */
export function pageDir(): string {
  const here = join(dirname(fileURLToPath(import.meta.url)), 'page')
  if (existsSync(join(here, 'index.html'))) return here
  return join(packageRoot(), 'dist', 'dashboard')
}

/**
 * The page's files, read once. The HTML names its script and style sheet with the token
 * (`__TOKEN_QUERY__`), so they load where every request needs it; the token is URL-safe
 * (generated, or checked by checkGivenToken), so it needs no HTML escaping.
 */
export function loadPage(token: string | undefined, dir = pageDir()): Map<string, PageFile> {
  const files = new Map<string, PageFile>()
  for (const name of PAGE_FILES) {
    const path = join(dir, name)
    if (!existsSync(path)) throw new Error(`the dashboard's page is missing (${path}); run "npm run build"`)
    let body = readFileSync(path, 'utf8')
    if (name === 'index.html') body = body.replaceAll('__TOKEN_QUERY__', token ? `?token=${encodeURIComponent(token)}` : '')
    files.set(name, {type: TYPES[name], body})
  }
  return files
}
