import {startDashboard, type Dashboard} from './server.js'

export interface ServeOptions {
  db: string
  listen: string
  token?: string
  open: boolean
  json: boolean
}

/** A participant's page: the room's URL with /host/NAME as its path (and the same token). */
export function hostUrl(roomUrl: string, name: string): string {
  const u = new URL(roomUrl)
  u.pathname = `/host/${encodeURIComponent(name)}`
  return u.toString()
}

/**
 * `fleet dashboard`: start the server, say where it is, serve until SIGINT or SIGTERM.
 * --json prints {url, listen, db, token?} as one line and nothing else.
 */
export async function serveDashboard(opts: ServeOptions, write: (text: string) => void): Promise<void> {
  const d: Dashboard = await startDashboard({db: opts.db, listen: opts.listen, token: opts.token})
  if (opts.json) write(JSON.stringify({url: d.url, listen: d.listen, db: opts.db, ...(d.token ? {token: d.token} : {})}) + '\n')
  else {
    const lines = []
    if (opts.open) lines.push(`open: ${d.url}`, '(fleet starts no browser: it usually runs where there is none; open the URL on the projector\'s machine)', '')
    lines.push(`fleet dashboard: the room recorded in ${opts.db}, live and read-only, on ${d.listen}`)
    lines.push(`  the room:           ${d.url}`)
    lines.push(`  one participant:    ${hostUrl(d.url, 'NAME')}`)
    if (d.token) lines.push('  The token is required on every request: whoever has the URL sees the room.')
    lines.push('Ctrl-C stops.')
    write(lines.join('\n') + '\n')
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      d.close().then(resolve, resolve)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
